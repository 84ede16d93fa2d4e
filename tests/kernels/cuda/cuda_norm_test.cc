// LayerNorm, RmsNorm and adaLN modulation against the CPU backend. Row reductions sum in a
// different order (block tree vs SIMD lanes): |err| <= 1e-5 + 1e-4 |ref| on rows with |mean| ~ 3,
// std ~ 2.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cpu/norm.h"
#include "kernels/cuda/norm.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;
constexpr float kEps = 1e-6f;

using CudaNormTest = CudaKernelTest;

struct Size {
  int64_t rows, cols;
};

// Widths below, at and above one block (256 threads), and enough rows (> 65535) in one case that
// the grid-stride loop over rows is exercised.
constexpr Size kSizes[] = {{13, 1}, {13, 3}, {5, 256}, {9, 257}, {4, 2240}, {70001, 4}};

TEST_F(CudaNormTest, LayerNormMatchesCpuWithAndWithoutAffine) {
  for (const Size s : kSizes) {
    const int64_t n = s.rows * s.cols;
    const std::vector<float> x = RandomVector(n, 31, -0.5f, 6.5f);
    const std::vector<float> gamma = RandomVector(s.cols, 32, 0.5f, 1.5f);
    const std::vector<float> beta = RandomVector(s.cols, 33);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dg, ToDevice(gamma));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(beta));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(n * sizeof(float)));
    for (const bool with_gamma : {false, true}) {
      for (const bool with_beta : {false, true}) {
        SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " gamma=" << with_gamma
                                          << " beta=" << with_beta);
        std::vector<float> expected(n);
        cpu::LayerNorm(x.data(), expected.data(), s.rows, s.cols, kEps,
                       with_gamma ? gamma.data() : nullptr, with_beta ? beta.data() : nullptr);
        ASSERT_STATUS_OK(LayerNorm(dx.as<float>(), dy.as<float>(), s.rows, s.cols, kEps,
                                   with_gamma ? dg.as<float>() : nullptr,
                                   with_beta ? db.as<float>() : nullptr, stream()));
        ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, n));
        ExpectAllNear(y, expected, kRelTol, kAbsTol, "LayerNorm");
      }
    }
  }
}

TEST_F(CudaNormTest, LayerNormInPlaceWithLargeOffset) {
  const int64_t rows = 6, cols = 1000;
  std::vector<float> x = RandomVector(rows * cols, 34);
  for (float& v : x) v += 1000.0f;  // |mean| >> std: a one-pass E[x^2] - mean^2 would fail here
  std::vector<float> expected = x;
  cpu::LayerNorm(expected.data(), expected.data(), rows, cols, kEps, nullptr, nullptr);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_STATUS_OK(
      LayerNorm(dx.as<float>(), dx.as<float>(), rows, cols, kEps, nullptr, nullptr, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dx, rows * cols));
  // Inputs carry only ~6e-5 absolute precision at 1000, amplified by 1/std ~ 1.7.
  ExpectAllNear(y, expected, kRelTol, 2e-4, "LayerNorm in place, offset 1000");
}

TEST_F(CudaNormTest, RmsNormMatchesCpu) {
  for (const Size s : kSizes) {
    const int64_t n = s.rows * s.cols;
    const std::vector<float> x = RandomVector(n, 35, -3.0f, 3.0f);
    const std::vector<float> weight = RandomVector(s.cols, 36, 0.5f, 1.5f);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dw, ToDevice(weight));
    for (const bool with_weight : {false, true}) {
      SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " weight=" << with_weight);
      std::vector<float> expected(n);
      cpu::RmsNorm(x.data(), expected.data(), s.rows, s.cols, kEps,
                   with_weight ? weight.data() : nullptr);
      // In place on a fresh copy.
      ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(x));
      ASSERT_STATUS_OK(RmsNorm(dy.as<float>(), dy.as<float>(), s.rows, s.cols, kEps,
                               with_weight ? dw.as<float>() : nullptr, stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, n));
      ExpectAllNear(y, expected, kRelTol, kAbsTol, "RmsNorm");
    }
  }
}

TEST_F(CudaNormTest, LayerNormModulateMatchesCpuForSharedAndPerRowModulation) {
  for (const Size s : kSizes) {
    const int64_t n = s.rows * s.cols;
    const std::vector<float> x = RandomVector(n, 37, -2.0f, 4.0f);
    const std::vector<float> shift = RandomVector(n, 38);
    const std::vector<float> scale = RandomVector(n, 39, -0.5f, 0.5f);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dshift, ToDevice(shift));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dscale, ToDevice(scale));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(n * sizeof(float)));
    for (const int64_t stride : {int64_t{0}, s.cols}) {
      SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " stride=" << stride);
      std::vector<float> expected(n);
      cpu::LayerNormModulate(x.data(), expected.data(), s.rows, s.cols, kEps, shift.data(),
                             scale.data(), stride);
      ASSERT_STATUS_OK(LayerNormModulate(dx.as<float>(), dy.as<float>(), s.rows, s.cols, kEps,
                                         dshift.as<float>(), dscale.as<float>(), stride, stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, n));
      ExpectAllNear(y, expected, kRelTol, kAbsTol, "LayerNormModulate");
    }
  }
}

TEST(CudaNormArgsTest, RejectsNegativeSizes) {
  EXPECT_EQ(LayerNorm(nullptr, nullptr, -1, 4, kEps, nullptr, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RmsNorm(nullptr, nullptr, 4, -1, kEps, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LayerNormModulate(nullptr, nullptr, 4, 4, kEps, nullptr, nullptr, -4, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LayerNorm(nullptr, nullptr, 0, 4, kEps, nullptr, nullptr, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
