// Interleaved RoPE against the CPU backend: two products and a sum per output,
// |err| <= 1e-6 + 1e-5 |ref|.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/rope.h"
#include "kernels/cuda/rope.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

using CudaRopeTest = CudaKernelTest;

// cos/sin of random angles, (rows, d/2).
void Angles(int64_t rows, int64_t half, std::vector<float>& cos, std::vector<float>& sin) {
  const std::vector<float> angle = RandomVector(rows * half, 71, -3.2f, 3.2f);
  cos.resize(angle.size());
  sin.resize(angle.size());
  for (size_t i = 0; i < angle.size(); ++i) {
    cos[i] = std::cos(angle[i]);
    sin[i] = std::sin(angle[i]);
  }
}

TEST_F(CudaRopeTest, MatchesCpuOutOfPlaceAndInPlace) {
  const int64_t rows = 5, heads = 3, d = 8, width = heads * d;
  std::vector<float> cos, sin;
  Angles(rows, d / 2, cos, sin);
  const std::vector<float> x = RandomVector(rows * width, 72);
  std::vector<float> expected(rows * width);
  cpu::RopeApply(x.data(), expected.data(), rows, heads, d, cos.data(), sin.data());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dcos, ToDevice(cos));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dsin, ToDevice(sin));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(x.size() * sizeof(float)));
  ASSERT_STATUS_OK(RopeApply(dx.as<float>(), dy.as<float>(), rows, heads, d, dcos.as<float>(),
                             dsin.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, x.size()));
  ExpectAllNear(y, expected, 1e-5, 1e-6, "RopeApply");

  ASSERT_STATUS_OK(RopeApply(dx.as<float>(), dx.as<float>(), rows, heads, d, dcos.as<float>(),
                             dsin.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> in_place, ToHost<float>(dx, x.size()));
  ExpectAllNear(in_place, expected, 1e-5, 1e-6, "RopeApply in place");
}

TEST_F(CudaRopeTest, MatchesCpuAtModelSize) {
  const int64_t rows = 300, heads = 20, d = 112, width = heads * d;  // a 2240-wide DiT
  std::vector<float> cos, sin;
  Angles(rows, d / 2, cos, sin);
  const std::vector<float> x = RandomVector(rows * width, 73);
  std::vector<float> expected(rows * width);
  cpu::RopeApply(x.data(), expected.data(), rows, heads, d, cos.data(), sin.data());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dcos, ToDevice(cos));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dsin, ToDevice(sin));
  ASSERT_STATUS_OK(RopeApply(dx.as<float>(), dx.as<float>(), rows, heads, d, dcos.as<float>(),
                             dsin.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dx, x.size()));
  ExpectAllNear(y, expected, 1e-5, 1e-6, "RopeApply 300x20x112");
}

TEST(CudaRopeArgsTest, RejectsOddHeadDim) {
  EXPECT_EQ(RopeApply(nullptr, nullptr, 2, 2, 7, nullptr, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RopeApply(nullptr, nullptr, -2, 2, 8, nullptr, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(RopeApply(nullptr, nullptr, 0, 2, 8, nullptr, nullptr, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
