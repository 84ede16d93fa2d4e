// The bf16 tensor-core GEMM (cuBLASLt, cublasGemmEx fallback) against a CPU oracle: the operands
// rounded to bf16 on the host (kernels/cpu/cast.h), products accumulated in double. Products of two
// bf16 are exact in f32, so the GPU errs only by f32 accumulation and rounding; tolerance per
// element: 1e-5 * (|alpha| sum|a*b| + |beta c| + |bias|) + 1e-6, for inputs in [-1, 1].
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/cast.h"
#include "kernels/cuda/gemm_bf16.h"
#include "kernels/cuda/gemm_bf16_lt.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::RandomVector;

constexpr double kRelTol = 1e-5;
constexpr double kAbsTol = 1e-6;
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

using CudaGemmBf16Test = CudaKernelTest;

std::vector<uint16_t> ToBf16(const std::vector<float>& x) {
  std::vector<uint16_t> bits(x.size());
  cpu::F32ToBf16(x.data(), bits.data(), static_cast<int64_t>(x.size()));
  return bits;
}

std::vector<float> FromBf16(const std::vector<uint16_t>& bits) {
  std::vector<float> x(bits.size());
  cpu::Bf16ToF32(bits.data(), x.data(), static_cast<int64_t>(bits.size()));
  return x;
}

// A GEMM in the contract of GemmBf16, on host copies: a (m, lda), b (n, ldb) when trans_b else
// (k, ldb), both already bf16-valued; c0 (m, ldc) the C before the call.
struct Problem {
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  std::vector<float> a, b, c0, bias;  // bias empty = none
  int64_t lda = 0, ldb = 0, ldc = 0;
};

// Checks every element of `c` (m x ldc) against the double-precision oracle, and that the padding
// beyond n in each row is untouched.
void ExpectMatchesOracle(const Problem& p, const std::vector<float>& c, const char* what) {
  ASSERT_EQ(c.size(), static_cast<size_t>(p.m * p.ldc)) << what;
  int64_t misses = 0;
  double worst = 0.0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.ldc; ++j) {
      const float got = c[i * p.ldc + j];
      const float before = p.c0[i * p.ldc + j];
      if (j >= p.n) {
        const bool same = got == before || (std::isnan(got) && std::isnan(before));
        if (!same && ++misses <= 5)
          ADD_FAILURE() << what << ": padding (" << i << ", " << j << ") written";
        continue;
      }
      double sum = 0.0, magnitude = 0.0;
      for (int64_t q = 0; q < p.k; ++q) {
        const double b = p.trans_b ? p.b[j * p.ldb + q] : p.b[q * p.ldb + j];
        const double prod = static_cast<double>(p.a[i * p.lda + q]) * b;
        sum += prod;
        magnitude += std::abs(prod);
      }
      double expected = p.alpha * sum;
      double scale = std::abs(p.alpha) * magnitude;
      if (p.beta != 0.0f) {
        expected += static_cast<double>(p.beta) * before;
        scale += std::abs(static_cast<double>(p.beta) * before);
      }
      if (!p.bias.empty()) {
        expected += p.bias[j];
        scale += std::abs(p.bias[j]);
      }
      const double err = std::abs(got - expected);
      const double tol = kRelTol * scale + kAbsTol;
      if (!(err <= tol)) {  // NaN fails too
        if (++misses <= 5) {
          ADD_FAILURE() << what << ": (" << i << ", " << j << ") is " << got << ", expected "
                        << expected << " within " << tol;
        }
      } else {
        worst = std::max(worst, err / tol);
      }
    }
  }
  EXPECT_EQ(misses, 0) << what << ": " << misses << " of " << p.m * p.ldc << " elements off";
  ::testing::Test::RecordProperty(what, ::testing::PrintToString(worst));
}

struct LinearShape {
  int64_t rows, in, out;
  bool bias;
  bool lt;  // expected route
};

TEST_F(CudaGemmBf16Test, LinearMatchesOracleOnBothRoutes) {
  for (const LinearShape s :
       {LinearShape{257, 2240, 2240, true, true}, LinearShape{1, 256, 256, false, true},
        LinearShape{1, 256, 256, true, true}, LinearShape{5, 37, 13, true, false},
        LinearShape{5, 37, 13, false, false}}) {
    SCOPED_TRACE(::testing::Message()
                 << "rows=" << s.rows << " in=" << s.in << " out=" << s.out << " bias=" << s.bias);
    const std::vector<float> x = RandomVector(s.rows * s.in, 11);
    const std::vector<uint16_t> w = ToBf16(RandomVector(s.out * s.in, 12));
    Problem p;
    p.trans_b = true;
    p.m = s.rows;
    p.n = s.out;
    p.k = s.in;
    p.a = FromBf16(ToBf16(x));  // LinearBf16 rounds x to bf16 (nearest even) on the device
    p.lda = s.in;
    p.b = FromBf16(w);
    p.ldb = s.in;
    p.ldc = s.out;
    // y starts as NaN: it is written without being read.
    p.c0.assign(s.rows * s.out, kNan);
    if (s.bias) p.bias = RandomVector(s.out, 13);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dw, ToDevice(w));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dbias, ToDevice(p.bias));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(p.c0));
    const GemmBf16RouteCounts before = GemmBf16Routes();
    ASSERT_STATUS_OK(LinearBf16(dx.as<float>(), s.rows, s.in, dw.as<uint16_t>(), s.out,
                                s.bias ? dbias.as<float>() : nullptr, dy.as<float>(), stream()));
    const GemmBf16RouteCounts after = GemmBf16Routes();
    EXPECT_EQ(after.lt - before.lt, s.lt ? 1 : 0);
    EXPECT_EQ(after.gemm_ex - before.gemm_ex, s.lt ? 0 : 1);
    ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, p.c0.size()));
    ExpectMatchesOracle(p, y, s.lt ? "LinearBf16 (cuBLASLt)" : "LinearBf16 (cublasGemmEx)");
  }
}

struct GemmShape {
  int64_t m, n, k;
  int64_t pad;  // added to every leading dimension
  bool lt;      // expected route
};

TEST_F(CudaGemmBf16Test, GemmMatchesOracleForBothLayoutsWithBetaAndBias) {
  // Aligned with padded rows (Lt); odd sizes with tight rows (fallback).
  for (const GemmShape s : {GemmShape{64, 96, 128, 8, true}, GemmShape{5, 13, 37, 0, false}}) {
    for (const bool trans_b : {false, true}) {
      for (const bool bias : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k
                                          << " trans_b=" << trans_b << " bias=" << bias);
        Problem p;
        p.trans_b = trans_b;
        p.m = s.m;
        p.n = s.n;
        p.k = s.k;
        p.alpha = 0.75f;
        p.beta = 0.5f;
        p.lda = s.k + s.pad;
        p.ldb = (trans_b ? s.k : s.n) + s.pad;
        p.ldc = s.n + (s.pad == 0 ? 0 : 4);
        const std::vector<uint16_t> a = ToBf16(RandomVector(s.m * p.lda, 21));
        const std::vector<uint16_t> b = ToBf16(RandomVector((trans_b ? s.n : s.k) * p.ldb, 22));
        p.a = FromBf16(a);
        p.b = FromBf16(b);
        p.c0 = RandomVector(s.m * p.ldc, 23);
        if (bias) p.bias = RandomVector(s.n, 24);
        ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
        ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
        ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(p.c0));
        ASSERT_OK_AND_ASSIGN(DeviceBuffer dbias, ToDevice(p.bias));
        const float* bias_ptr = bias ? dbias.as<float>() : nullptr;
        EXPECT_EQ(GemmBf16UsesLt(da.as<uint16_t>(), p.lda, db.as<uint16_t>(), p.ldb, dc.as<float>(),
                                 p.ldc, bias_ptr),
                  s.lt);
        const GemmBf16RouteCounts before = GemmBf16Routes();
        ASSERT_STATUS_OK(GemmBf16(trans_b, s.m, s.n, s.k, p.alpha, da.as<uint16_t>(), p.lda,
                                  db.as<uint16_t>(), p.ldb, p.beta, dc.as<float>(), p.ldc, bias_ptr,
                                  stream()));
        const GemmBf16RouteCounts after = GemmBf16Routes();
        EXPECT_EQ(after.lt - before.lt, s.lt ? 1 : 0);
        EXPECT_EQ(after.gemm_ex - before.gemm_ex, s.lt ? 0 : 1);
        ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, p.c0.size()));
        ExpectMatchesOracle(p, c, s.lt ? "GemmBf16 (cuBLASLt)" : "GemmBf16 (cublasGemmEx)");
      }
    }
  }
}

TEST_F(CudaGemmBf16Test, RepeatedCallsReuseTheCachedAlgorithm) {
  // The second call of a shape runs the cached plan: same route, still right.
  Problem p;
  p.trans_b = true;
  p.m = 48;
  p.n = 64;
  p.k = 96;
  p.lda = p.ldb = p.k;
  p.ldc = p.n;
  const std::vector<uint16_t> a = ToBf16(RandomVector(p.m * p.k, 31));
  const std::vector<uint16_t> b = ToBf16(RandomVector(p.n * p.k, 32));
  p.a = FromBf16(a);
  p.b = FromBf16(b);
  p.c0.assign(p.m * p.n, kNan);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
  for (int call = 0; call < 2; ++call) {
    SCOPED_TRACE(::testing::Message() << "call " << call);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(p.c0));
    const GemmBf16RouteCounts before = GemmBf16Routes();
    ASSERT_STATUS_OK(GemmBf16(true, p.m, p.n, p.k, 1.0f, da.as<uint16_t>(), p.lda,
                              db.as<uint16_t>(), p.ldb, 0.0f, dc.as<float>(), p.ldc, nullptr,
                              stream()));
    EXPECT_EQ(GemmBf16Routes().lt - before.lt, 1);
    ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, p.c0.size()));
    ExpectMatchesOracle(p, c, "GemmBf16 (cached plan)");
  }
}

TEST_F(CudaGemmBf16Test, EmptyInnerDimensionGivesBetaCPlusBias) {
  const int64_t m = 6, n = 5;
  const std::vector<float> c0 = RandomVector(m * n, 41), bias = RandomVector(n, 42);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(c0));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dbias, ToDevice(bias));
  ASSERT_STATUS_OK(GemmBf16(false, m, n, 0, 1.0f, nullptr, 0, nullptr, 0, 0.5f, dc.as<float>(), n,
                            dbias.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, c0.size()));
  for (int64_t i = 0; i < m * n; ++i) EXPECT_EQ(c[i], 0.5f * c0[i] + bias[i % n]) << i;

  // alpha == 0 reads neither A nor B (null here); beta == 0 ignores NaNs in C.
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dn, ToDevice(std::vector<float>(m * n, kNan)));
  ASSERT_STATUS_OK(GemmBf16(true, m, n, 7, 0.0f, nullptr, 7, nullptr, 7, 0.0f, dn.as<float>(), n,
                            nullptr, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> zeros, ToHost<float>(dn, m * n));
  for (const float v : zeros) EXPECT_EQ(v, 0.0f);

  // A linear layer without inputs is its bias.
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(std::vector<float>(m * n, kNan)));
  ASSERT_STATUS_OK(
      LinearBf16(nullptr, m, 0, nullptr, n, dbias.as<float>(), dy.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, m * n));
  for (int64_t i = 0; i < m * n; ++i) EXPECT_EQ(y[i], bias[i % n]) << i;
}

// The row-major -> column-major posing of the cuBLASLt call, checked without a GPU: cuBLASLt's
// documented semantics interpreted on the host (column-major storage, X(r, c) = x[r + c * ld],
// op(X)(r, c) = X(c, r) when transposed, D = alpha op(A) op(B) + beta C + bias[row of D]) over the
// shape LtShapeFor gives, fed our buffers (Lt's A = our b, Lt's B = our a), must equal the
// row-major contract of GemmBf16.
TEST(CudaGemmBf16HostTest, LtPosingComputesTheRowMajorContract) {
  for (const bool trans_b : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "trans_b=" << trans_b);
    internal::Bf16GemmOperands g;
    g.trans_b = trans_b;
    g.m = 5;
    g.n = 7;
    g.k = 3;
    g.alpha = 0.75f;
    g.beta = 0.5f;
    g.lda = g.k + 2;
    g.ldb = (trans_b ? g.k : g.n) + 1;
    g.ldc = g.n + 3;
    const std::vector<float> a = RandomVector(g.m * g.lda, 51);
    const std::vector<float> b = RandomVector((trans_b ? g.n : g.k) * g.ldb, 52);
    const std::vector<float> c0 = RandomVector(g.m * g.ldc, 53);
    const std::vector<float> bias = RandomVector(g.n, 54);

    const internal::LtMatmulShape lt = LtShapeFor(g);
    const bool ta = lt.trans_a == CUBLAS_OP_T, tb = lt.trans_b == CUBLAS_OP_T;
    const uint64_t rows = ta ? lt.a_cols : lt.a_rows, inner = ta ? lt.a_rows : lt.a_cols;
    ASSERT_EQ(rows, lt.c_rows);
    ASSERT_EQ(inner, static_cast<uint64_t>(g.k));
    ASSERT_EQ(tb ? lt.b_cols : lt.b_rows, inner);
    ASSERT_EQ(tb ? lt.b_rows : lt.b_cols, lt.c_cols);
    ASSERT_GE(lt.lda, static_cast<int64_t>(lt.a_rows));
    ASSERT_GE(lt.ldb, static_cast<int64_t>(lt.b_rows));
    ASSERT_GE(lt.ldc, static_cast<int64_t>(lt.c_rows));
    // Every element Lt would touch lies inside our buffers.
    ASSERT_LE((lt.a_cols - 1) * lt.lda + lt.a_rows, b.size());
    ASSERT_LE((lt.b_cols - 1) * lt.ldb + lt.b_rows, a.size());
    ASSERT_LE((lt.c_cols - 1) * lt.ldc + lt.c_rows, c0.size());

    auto at = [](const std::vector<float>& x, int64_t ld, bool trans, uint64_t r, uint64_t c) {
      return static_cast<double>(trans ? x[c + r * ld] : x[r + c * ld]);
    };
    std::vector<double> d(c0.begin(), c0.end());
    for (uint64_t r = 0; r < lt.c_rows; ++r) {
      for (uint64_t col = 0; col < lt.c_cols; ++col) {
        double sum = 0.0;
        for (uint64_t p = 0; p < inner; ++p) {
          sum += at(b, lt.lda, ta, r, p) * at(a, lt.ldb, tb, p, col);
        }
        double& out = d[r + col * lt.ldc];
        out = g.alpha * sum + g.beta * out + bias[r];
      }
    }
    for (int64_t i = 0; i < g.m; ++i) {
      for (int64_t j = 0; j < g.n; ++j) {
        double sum = 0.0;
        for (int64_t q = 0; q < g.k; ++q) {
          sum += static_cast<double>(a[i * g.lda + q]) *
                 (trans_b ? b[j * g.ldb + q] : b[q * g.ldb + j]);
        }
        const double want = g.alpha * sum + g.beta * c0[i * g.ldc + j] + bias[j];
        EXPECT_NEAR(d[i * g.ldc + j], want, 1e-12) << "(" << i << ", " << j << ")";
      }
      for (int64_t j = g.n; j < g.ldc; ++j) EXPECT_EQ(d[i * g.ldc + j], c0[i * g.ldc + j]);
    }
  }
}

// Argument checks run before any CUDA call, so these run without a device too. The host vectors
// stand in for device pointers and are never dereferenced.
TEST(CudaGemmBf16ArgsTest, RejectsNegativeSizesNullsAndShortRows) {
  std::vector<uint16_t> a(64), b(64);
  std::vector<float> c(64);
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(
      GemmBf16(true, -1, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(true, 4, 4, -4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 4, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(true, 4, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, nullptr, 4, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(true, 4, 4, 4, 1.0f, nullptr, 4, b.data(), 4, 0.0f, c.data(), 4, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(true, 4, 4, 4, 1.0f, a.data(), 4, nullptr, 4, 0.0f, c.data(), 4, nullptr, nullptr)
          .code(),
      invalid);
  // Leading dimensions shorter than a row: lda < k, ldb < k (trans_b) or < n, ldc < n.
  EXPECT_EQ(
      GemmBf16(true, 4, 4, 4, 1.0f, a.data(), 3, b.data(), 4, 0.0f, c.data(), 4, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(true, 4, 4, 5, 1.0f, a.data(), 5, b.data(), 4, 0.0f, c.data(), 4, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(false, 4, 6, 2, 1.0f, a.data(), 2, b.data(), 4, 0.0f, c.data(), 6, nullptr, nullptr)
          .code(),
      invalid);
  EXPECT_EQ(
      GemmBf16(true, 4, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 3, nullptr, nullptr)
          .code(),
      invalid);
  // Nothing to compute: OK without touching the (absent) device.
  EXPECT_TRUE(
      GemmBf16(true, 0, 4, 4, 1.0f, nullptr, 0, nullptr, 0, 0.0f, nullptr, 0, nullptr, nullptr)
          .ok());
  EXPECT_TRUE(
      GemmBf16(true, 4, 0, 4, 1.0f, nullptr, 0, nullptr, 0, 0.0f, nullptr, 0, nullptr, nullptr)
          .ok());

  EXPECT_EQ(LinearBf16(c.data(), -1, 4, a.data(), 4, nullptr, c.data() + 32, nullptr).code(),
            invalid);
  EXPECT_EQ(LinearBf16(c.data(), 2, -4, a.data(), 4, nullptr, c.data() + 32, nullptr).code(),
            invalid);
  EXPECT_EQ(LinearBf16(c.data(), 2, 4, a.data(), -4, nullptr, c.data() + 32, nullptr).code(),
            invalid);
  EXPECT_EQ(LinearBf16(nullptr, 2, 4, a.data(), 4, nullptr, c.data() + 32, nullptr).code(),
            invalid);
  EXPECT_EQ(LinearBf16(c.data(), 2, 4, nullptr, 4, nullptr, c.data() + 32, nullptr).code(),
            invalid);
  EXPECT_EQ(LinearBf16(c.data(), 2, 4, a.data(), 4, nullptr, nullptr, nullptr).code(), invalid);
  // y overlapping x: in place, and shifted by a few elements.
  EXPECT_EQ(LinearBf16(c.data(), 2, 4, a.data(), 4, nullptr, c.data(), nullptr).code(), invalid);
  EXPECT_EQ(LinearBf16(c.data(), 2, 4, a.data(), 4, nullptr, c.data() + 7, nullptr).code(),
            invalid);
  EXPECT_TRUE(LinearBf16(nullptr, 0, 4, nullptr, 4, nullptr, nullptr, nullptr).ok());
  EXPECT_TRUE(LinearBf16(nullptr, 2, 4, nullptr, 0, nullptr, nullptr, nullptr).ok());
}

TEST(CudaGemmBf16HostTest, LtRouteNeedsSixteenByteAlignedPointersAndRows) {
  alignas(16) uint16_t a[64];
  alignas(16) uint16_t b[64];
  alignas(16) float c[64];
  alignas(16) float bias[16];
  EXPECT_TRUE(GemmBf16UsesLt(a, 8, b, 16, c, 4, nullptr));
  EXPECT_TRUE(GemmBf16UsesLt(a, 8, b, 16, c, 4, bias));
  EXPECT_FALSE(GemmBf16UsesLt(a + 1, 8, b, 16, c, 4, nullptr));  // 2 bytes off
  EXPECT_FALSE(GemmBf16UsesLt(a, 8, b + 4, 16, c, 4, nullptr));  // 8 bytes off
  EXPECT_FALSE(GemmBf16UsesLt(a, 8, b, 16, c + 1, 4, nullptr));
  EXPECT_FALSE(GemmBf16UsesLt(a, 8, b, 16, c, 4, bias + 2));
  EXPECT_FALSE(GemmBf16UsesLt(a, 37, b, 16, c, 4, nullptr));  // rows 74 bytes apart
  EXPECT_FALSE(GemmBf16UsesLt(a, 8, b, 12, c, 4, nullptr));
  EXPECT_FALSE(GemmBf16UsesLt(a, 8, b, 16, c, 13, nullptr));
}

}  // namespace
}  // namespace reel::kernels::cuda
