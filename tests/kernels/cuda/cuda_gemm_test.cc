// cuBLAS GEMM against the CPU's double-accumulation reference (kernels/cpu GemmReference).
// Tolerance: |err| <= 1e-4 + 1e-4 |ref| for inputs in [-1, 1] and k <= 515. f32 accumulation stays
// orders of magnitude below that, while TF32 (10-bit mantissa) errs by ~1e-3 at k = 515 and fails.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cuda/gemm.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-4;

using CudaGemmTest = CudaKernelTest;

struct Shape {
  int64_t m, n, k;
};

TEST_F(CudaGemmTest, MatchesReferenceForEveryTranspositionAndPaddedStrides) {
  for (const Shape s : {Shape{37, 53, 29}, Shape{64, 48, 515}, Shape{1, 7, 3}, Shape{5, 1, 1}}) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k
                                          << " trans_a=" << ta << " trans_b=" << tb);
        // Leading dimensions larger than a row: the padding must be neither read nor written.
        const int64_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 5, ldc = s.n + 2;
        const std::vector<float> a = RandomVector((ta ? s.k : s.m) * lda, 1);
        const std::vector<float> b = RandomVector((tb ? s.n : s.k) * ldb, 2);
        std::vector<float> expected = RandomVector(s.m * ldc, 3);
        ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
        ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
        ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(expected));
        cpu::GemmReference(ta, tb, s.m, s.n, s.k, 0.7f, a.data(), lda, b.data(), ldb, 0.3f,
                           expected.data(), ldc);
        ASSERT_STATUS_OK(Gemm(ta, tb, s.m, s.n, s.k, 0.7f, da.as<float>(), lda, db.as<float>(), ldb,
                              0.3f, dc.as<float>(), ldc, cublas(), stream()));
        ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, expected.size()));
        ExpectAllNear(c, expected, kRelTol, kAbsTol, "Gemm");
      }
    }
  }
}

TEST_F(CudaGemmTest, BatchedMatchesReferencePerMatrix) {
  const int64_t batch = 4, m = 9, n = 11, k = 13;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "trans_a=" << ta << " trans_b=" << tb);
      const int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
      // Strides leave gaps between matrices.
      const int64_t stride_a = (ta ? k : m) * lda + 7, stride_b = (tb ? n : k) * ldb + 3;
      const int64_t stride_c = m * ldc + 5;
      const std::vector<float> a = RandomVector(batch * stride_a, 4);
      const std::vector<float> b = RandomVector(batch * stride_b, 5);
      std::vector<float> expected = RandomVector(batch * stride_c, 6);
      ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
      ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
      ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(expected));
      for (int64_t i = 0; i < batch; ++i) {
        cpu::GemmReference(ta, tb, m, n, k, -1.5f, a.data() + i * stride_a, lda,
                           b.data() + i * stride_b, ldb, 1.0f, expected.data() + i * stride_c, ldc);
      }
      ASSERT_STATUS_OK(GemmBatched(ta, tb, batch, m, n, k, -1.5f, da.as<float>(), lda, stride_a,
                                   db.as<float>(), ldb, stride_b, 1.0f, dc.as<float>(), ldc,
                                   stride_c, cublas(), stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, expected.size()));
      ExpectAllNear(c, expected, kRelTol, kAbsTol, "GemmBatched");
    }
  }
}

TEST_F(CudaGemmTest, EmptyInnerDimensionScalesC) {
  const int64_t m = 6, n = 5;
  const std::vector<float> c0 = RandomVector(m * n, 7);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(c0));
  ASSERT_STATUS_OK(Gemm(false, false, m, n, 0, 1.0f, nullptr, 0, nullptr, 0, 0.5f, dc.as<float>(),
                        n, cublas(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, c0.size()));
  for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(c[i], 0.5f * c0[i]) << i;
}

TEST_F(CudaGemmTest, BetaZeroIgnoresNanInC) {
  const int64_t m = 4, n = 3, k = 2;
  const std::vector<float> a = RandomVector(m * k, 8), b = RandomVector(k * n, 9);
  std::vector<float> expected(m * n, std::numeric_limits<float>::quiet_NaN());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dc, ToDevice(expected));
  cpu::GemmReference(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, expected.data(),
                     n);
  ASSERT_STATUS_OK(Gemm(false, false, m, n, k, 1.0f, da.as<float>(), k, db.as<float>(), n, 0.0f,
                        dc.as<float>(), n, cublas(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> c, ToHost<float>(dc, expected.size()));
  for (const float v : c) ASSERT_FALSE(std::isnan(v));
  ExpectAllNear(c, expected, kRelTol, kAbsTol, "Gemm beta=0");

  // k == 0 with beta == 0 writes zeros without reading the NaNs either.
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dn, ToDevice(std::vector<float>(m * n, NAN)));
  ASSERT_STATUS_OK(Gemm(false, false, m, n, 0, 1.0f, nullptr, 0, nullptr, 0, 0.0f, dn.as<float>(),
                        n, cublas(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> zeros, ToHost<float>(dn, m * n));
  for (const float v : zeros) EXPECT_EQ(v, 0.0f);
}

// Argument checks run before any CUDA call, so these run without a device too.
TEST(CudaGemmArgsTest, RejectsNegativeSizes) {
  EXPECT_EQ(
      Gemm(false, false, -1, 2, 2, 1.0f, nullptr, 2, nullptr, 2, 0.0f, nullptr, 2, nullptr, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GemmBatched(false, false, -2, 2, 2, 2, 1.0f, nullptr, 2, 4, nullptr, 2, 4, 0.0f,
                        nullptr, 2, 4, nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing to compute: OK without touching the (absent) device.
  EXPECT_TRUE(
      Gemm(false, false, 0, 2, 2, 1.0f, nullptr, 2, nullptr, 2, 0.0f, nullptr, 2, nullptr, nullptr)
          .ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
