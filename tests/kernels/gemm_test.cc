// GEMM against a double-accumulation triple loop written here (independent of GemmReference, which
// is itself checked against a closed-form product).
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::RandomVector;

struct Shape {
  int64_t m, n, k;
};

// Returns C = alpha op(A) op(B) + beta C0 in double and, per element, the bound
// tol * (|alpha| sum_p |a||b| + |beta c0|) that f32 accumulation must meet.
void Oracle(bool ta, bool tb, Shape s, float alpha, const std::vector<float>& a, int64_t lda,
            const std::vector<float>& b, int64_t ldb, float beta, const std::vector<float>& c0,
            int64_t ldc, std::vector<double>* ref, std::vector<double>* mag) {
  ref->assign(c0.size(), 0.0);
  mag->assign(c0.size(), 0.0);
  for (size_t i = 0; i < c0.size(); ++i) (*ref)[i] = c0[i];  // Untouched padding stays as is.
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0.0, abs_acc = 0.0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
        abs_acc += std::abs(av * bv);
      }
      const double c = beta == 0.0f ? 0.0 : static_cast<double>(beta) * c0[i * ldc + j];
      (*ref)[i * ldc + j] = alpha * acc + c;
      (*mag)[i * ldc + j] = std::abs(alpha) * abs_acc + std::abs(c);
    }
  }
}

void ExpectWithinBound(const std::vector<float>& c, const std::vector<double>& ref,
                       const std::vector<double>& mag, const std::string& what) {
  constexpr double kRelTol = 1e-5;  // f32: well above sqrt(k) * 2^-24 for the sizes used here.
  int misses = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double err = std::abs(c[i] - ref[i]);
    if (!(err <= kRelTol * mag[i] + 1e-30) && ++misses <= 3) {
      ADD_FAILURE() << what << " element " << i << ": " << c[i] << " vs " << ref[i];
    }
  }
  EXPECT_EQ(misses, 0) << what;
}

enum class Path { kDefault, kOpenBlas, kOneDnn, kReference };

void RunGemm(Path path, bool ta, bool tb, Shape s, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  switch (path) {
    case Path::kDefault:
      return Gemm(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc);
    case Path::kOpenBlas:
      return GemmWith(GemmBackend::kOpenBlas, ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c,
                      ldc);
    case Path::kOneDnn:
      return GemmWith(GemmBackend::kOneDnn, ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c,
                      ldc);
    case Path::kReference:
      return GemmReference(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

class GemmTest : public ::testing::TestWithParam<std::tuple<Path, bool, bool>> {};

TEST_P(GemmTest, MatchesDoubleOracle) {
  const auto [path, ta, tb] = GetParam();
  const Shape shapes[] = {{1, 1, 1},    {1, 7, 5},    {5, 1, 3},     {17, 13, 9},
                          {64, 48, 33}, {3, 130, 70}, {129, 2, 257}, {4, 6, 0}};
  uint32_t seed = 1;
  for (const Shape s : shapes) {
    for (const float beta : {0.0f, 1.0f, -0.5f}) {
      for (const int64_t pad : {0, 3}) {  // Leading dimensions larger than a row.
        const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
        const int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
        const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
        const auto a = RandomVector(a_rows * lda, ++seed);
        const auto b = RandomVector(b_rows * ldb, ++seed);
        auto c = RandomVector(s.m * ldc, ++seed);
        if (beta == 0.0f) {
          for (float& x : c) x = std::numeric_limits<float>::quiet_NaN();  // Must not be read.
        }
        std::vector<double> ref, mag;
        Oracle(ta, tb, s, 0.75f, a, lda, b, ldb, beta, c, ldc, &ref, &mag);
        // Padding columns of C must be left alone: compare them exactly as well.
        RunGemm(path, ta, tb, s, 0.75f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        const std::string what = "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                                 " k=" + std::to_string(s.k) + " beta=" + std::to_string(beta) +
                                 " pad=" + std::to_string(pad);
        for (int64_t i = 0; i < s.m; ++i) {
          for (int64_t j = s.n; j < ldc; ++j) {
            const float v = c[i * ldc + j];
            ASSERT_TRUE(std::isnan(v) ? std::isnan(ref[i * ldc + j]) : v == ref[i * ldc + j])
                << what << ": padding overwritten";
            c[i * ldc + j] = 0.0f;
            ref[i * ldc + j] = 0.0;
          }
        }
        ExpectWithinBound(c, ref, mag, what);
      }
    }
  }
}

std::string PathName(Path p) {
  switch (p) {
    case Path::kDefault:
      return "Default";
    case Path::kOpenBlas:
      return "OpenBlas";
    case Path::kOneDnn:
      return "OneDnn";
    case Path::kReference:
      return "Reference";
  }
  return "?";
}

INSTANTIATE_TEST_SUITE_P(AllBackendsAllTransposes, GemmTest,
                         ::testing::Combine(::testing::Values(Path::kDefault, Path::kOpenBlas,
                                                              Path::kOneDnn, Path::kReference),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return PathName(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_At" : "_A") +
                                  (std::get<2>(info.param) ? "_Bt" : "_B");
                         });

TEST(GemmReferenceTest, ClosedFormTwoByTwo) {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]; alpha 2, beta 1 on C = ones.
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  float c[] = {1, 1, 1, 1};
  GemmReference(false, false, 2, 2, 2, 2.0f, a, 2, b, 2, 1.0f, c, 2);
  EXPECT_EQ(c[0], 39.0f);
  EXPECT_EQ(c[1], 45.0f);
  EXPECT_EQ(c[2], 87.0f);
  EXPECT_EQ(c[3], 101.0f);
  // A^T B^T = (B A)^T: [5 6; 7 8][1 2; 3 4] = [23 34; 31 46] -> transposed [23 31; 34 46].
  GemmReference(true, true, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
  EXPECT_EQ(c[0], 23.0f);
  EXPECT_EQ(c[1], 31.0f);
  EXPECT_EQ(c[2], 34.0f);
  EXPECT_EQ(c[3], 46.0f);
}

TEST(GemmBatchedTest, EachMatrixMatchesOracle) {
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const Shape s{9, 11, 7};
      const int64_t batch = 3;
      const int64_t lda = (ta ? s.m : s.k) + 1, ldb = (tb ? s.k : s.n) + 2, ldc = s.n;
      const int64_t stride_a = (ta ? s.k : s.m) * lda + 5, stride_b = (tb ? s.n : s.k) * ldb + 1;
      const int64_t stride_c = s.m * ldc + 4;
      const auto a = RandomVector(batch * stride_a, 100 + ta);
      const auto b = RandomVector(batch * stride_b, 200 + tb);
      auto c = RandomVector(batch * stride_c, 300);
      const auto c0 = c;
      GemmBatched(ta, tb, batch, s.m, s.n, s.k, 1.5f, a.data(), lda, stride_a, b.data(), ldb,
                  stride_b, 0.5f, c.data(), ldc, stride_c);
      for (int64_t i = 0; i < batch; ++i) {
        const std::vector<float> ai(a.begin() + i * stride_a, a.begin() + (i + 1) * stride_a);
        const std::vector<float> bi(b.begin() + i * stride_b, b.begin() + (i + 1) * stride_b);
        const std::vector<float> c0i(c0.begin() + i * stride_c,
                                     c0.begin() + i * stride_c + s.m * ldc);
        const std::vector<float> ci(c.begin() + i * stride_c, c.begin() + i * stride_c + s.m * ldc);
        std::vector<double> ref, mag;
        Oracle(ta, tb, s, 1.5f, ai, lda, bi, ldb, 0.5f, c0i, ldc, &ref, &mag);
        ExpectWithinBound(ci, ref, mag, "batch " + std::to_string(i));
        // The gap between matrices is not written.
        for (int64_t g = s.m * ldc; g < stride_c; ++g) {
          EXPECT_EQ(c[i * stride_c + g], c0[i * stride_c + g]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
