// Softmax and softmax attention against double-precision loops.
#include "kernels/cpu/softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<double> SoftmaxRef(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<double> y(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, double{x[r * cols + j]});
    if (mx == -INFINITY) continue;  // Fully masked row: zeros.
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j) sum += std::exp(x[r * cols + j] - mx);
    for (int64_t j = 0; j < cols; ++j) y[r * cols + j] = std::exp(x[r * cols + j] - mx) / sum;
  }
  return y;
}

TEST(SoftmaxTest, RandomRowsLargeValuesMaskedEntriesAndInPlace) {
  struct Case {
    int64_t rows, cols;
  };
  uint32_t seed = 1;
  for (const Case c : {Case{1, 1}, Case{1, 9}, Case{7, 33}, Case{129, 1000}}) {
    auto x = RandomVector(c.rows * c.cols, ++seed, -8.0f, 8.0f);
    x[0] = 1000.0f;  // exp(1000) overflows unless the max is subtracted.
    if (c.cols > 1) x[1] = -kInf;
    if (c.rows > 1) {
      for (int64_t j = 0; j < c.cols; ++j) x[c.cols + j] = -kInf;  // Row 1 fully masked.
    }
    const auto want = SoftmaxRef(x, c.rows, c.cols);
    std::vector<float> y(x.size());
    Softmax(x.data(), y.data(), c.rows, c.cols);
    ExpectAllNear(y, want, 1e-5, 1e-7, "softmax");
    if (c.rows > 1) {
      for (int64_t j = 0; j < c.cols; ++j) ASSERT_EQ(y[c.cols + j], 0.0f);
    }
    Softmax(x.data(), x.data(), c.rows, c.cols);
    EXPECT_EQ(x, y) << "in place differs";
  }
}

// Attention in double; masked keys are skipped, a query with no key left gives zeros.
std::vector<double> AttentionRef(const std::vector<float>& q, const std::vector<float>& k,
                                 const std::vector<float>& v, const float* mask, int64_t nq,
                                 int64_t nk, int64_t heads, int64_t d, double scale) {
  const int64_t w = heads * d;
  std::vector<double> out(nq * w, 0.0);
  std::vector<double> s(nk);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < nq; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < nk; ++j) {
        if (mask && mask[j] == 0) continue;
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += double{q[i * w + h * d + e]} * k[j * w + h * d + e];
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      if (mx == -INFINITY) continue;
      double sum = 0;
      for (int64_t j = 0; j < nk; ++j) {
        if (mask && mask[j] == 0) continue;
        sum += std::exp(s[j] - mx);
      }
      for (int64_t j = 0; j < nk; ++j) {
        if (mask && mask[j] == 0) continue;
        const double p = std::exp(s[j] - mx) / sum;
        for (int64_t e = 0; e < d; ++e) out[i * w + h * d + e] += p * v[j * w + h * d + e];
      }
    }
  }
  return out;
}

struct AttnCase {
  int64_t nq, nk, heads, d;
};

TEST(SoftmaxAttentionTest, MatchesOracleWithAndWithoutMask) {
  uint32_t seed = 10;
  // The last case has more queries than one score block (2^20 / nk rows), so blocking is exercised.
  for (const AttnCase c : {AttnCase{1, 1, 1, 1}, AttnCase{1, 5, 2, 3}, AttnCase{17, 9, 3, 5},
                           AttnCase{64, 77, 2, 32}, AttnCase{300, 4096, 1, 4}}) {
    const int64_t w = c.heads * c.d;
    const auto q = RandomVector(c.nq * w, ++seed, -2.0f, 2.0f);
    const auto k = RandomVector(c.nk * w, ++seed, -2.0f, 2.0f);
    const auto v = RandomVector(c.nk * w, ++seed);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
    std::vector<float> mask(c.nk);
    for (int64_t j = 0; j < c.nk; ++j) mask[j] = (j % 3 != 1) ? 1.0f : 0.0f;
    for (const float* m :
         {static_cast<const float*>(nullptr), static_cast<const float*>(mask.data())}) {
      const auto want = AttentionRef(q, k, v, m, c.nq, c.nk, c.heads, c.d, scale);
      std::vector<float> out(c.nq * w);
      SoftmaxAttention(q.data(), k.data(), v.data(), m, c.nq, c.nk, c.heads, c.d, scale,
                       out.data());
      ExpectAllNear(out, want, 1e-5, 2e-6, m ? "masked" : "unmasked");
    }
  }
}

TEST(SoftmaxAttentionTest, AllButOneKeyMaskedGivesThatValueAndNanInMaskedKeysDoesNotLeak) {
  const AttnCase c{6, 8, 2, 4};
  const int64_t w = c.heads * c.d;
  const auto q = RandomVector(c.nq * w, 1);
  auto k = RandomVector(c.nk * w, 2);
  auto v = RandomVector(c.nk * w, 3);
  std::vector<float> mask(c.nk, 0.0f);
  const int64_t kept = 5;
  mask[kept] = 1.0f;
  for (int64_t j = 0; j < c.nk; ++j) {
    if (j == kept) continue;
    for (int64_t e = 0; e < w; ++e) {
      k[j * w + e] = std::numeric_limits<float>::quiet_NaN();
      v[j * w + e] = kInf;
    }
  }
  std::vector<float> out(c.nq * w);
  SoftmaxAttention(q.data(), k.data(), v.data(), mask.data(), c.nq, c.nk, c.heads, c.d, 0.5f,
                   out.data());
  for (int64_t i = 0; i < c.nq; ++i) {
    for (int64_t e = 0; e < w; ++e) ASSERT_EQ(out[i * w + e], v[kept * w + e]) << i << "," << e;
  }
}

TEST(SoftmaxAttentionTest, FullyMaskedGivesZeros) {
  const AttnCase c{3, 4, 2, 2};
  const int64_t w = c.heads * c.d;
  const auto q = RandomVector(c.nq * w, 1), k = RandomVector(c.nk * w, 2),
             v = RandomVector(c.nk * w, 3);
  const std::vector<float> mask(c.nk, 0.0f);
  std::vector<float> out(c.nq * w, 7.0f);
  SoftmaxAttention(q.data(), k.data(), v.data(), mask.data(), c.nq, c.nk, c.heads, c.d, 1.0f,
                   out.data());
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

}  // namespace
}  // namespace reel::kernels::cpu
