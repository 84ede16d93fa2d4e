// Activations and the SiLU gate against the CPU backend. Both evaluate the same formulas with
// exp/erfc accurate to a few ulp: |err| <= 1e-6 + 1e-5 |ref|.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cuda/activation.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr double kRelTol = 1e-5;
constexpr double kAbsTol = 1e-6;

using CudaActivationTest = CudaKernelTest;

TEST_F(CudaActivationTest, EveryActivationMatchesCpu) {
  std::vector<float> x = RandomVector(40009, 21, -8.0f, 8.0f);
  // Tails and signed zeros where cancellation-prone formulas would differ.
  for (const float v : {0.0f, -0.0f, 30.0f, -30.0f, 90.0f, -90.0f, 1e-20f, -1e-20f}) x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(x.size() * sizeof(float)));
  for (const Activation act :
       {Activation::kRelu, Activation::kSilu, Activation::kGeluTanh, Activation::kGeluErf}) {
    SCOPED_TRACE(static_cast<int>(act));
    std::vector<float> expected(n);
    cpu::Activate(act, x.data(), expected.data(), n);
    ASSERT_STATUS_OK(Activate(act, dx.as<float>(), dy.as<float>(), n, stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, n));
    ExpectAllNear(y, expected, kRelTol, kAbsTol, "Activate");
  }
}

TEST_F(CudaActivationTest, InPlace) {
  const std::vector<float> x = RandomVector(1000, 22, -4.0f, 4.0f);
  std::vector<float> expected = x;
  cpu::Activate(Activation::kGeluTanh, expected.data(), expected.data(), 1000);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_STATUS_OK(Activate(Activation::kGeluTanh, dx.as<float>(), dx.as<float>(), 1000, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dx, 1000));
  ExpectAllNear(y, expected, kRelTol, kAbsTol, "Activate in place");
}

TEST_F(CudaActivationTest, SiluGateMatchesCpu) {
  const int64_t rows = 7, half = 33;
  const std::vector<float> x = RandomVector(rows * 2 * half, 23, -6.0f, 6.0f);
  std::vector<float> expected(rows * half);
  cpu::SiluGate(x.data(), expected.data(), rows, half);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(rows * half * sizeof(float)));
  ASSERT_STATUS_OK(SiluGate(dx.as<float>(), dy.as<float>(), rows, half, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, rows * half));
  ExpectAllNear(y, expected, kRelTol, kAbsTol, "SiluGate");
}

// y == x narrows in place (allowed on the CPU); enough rows that a racy kernel would corrupt
// inputs.
TEST_F(CudaActivationTest, SiluGateInPlace) {
  const int64_t rows = 300, half = 257;
  const std::vector<float> x = RandomVector(rows * 2 * half, 24, -6.0f, 6.0f);
  std::vector<float> expected = x;
  cpu::SiluGate(expected.data(), expected.data(), rows, half);
  expected.resize(rows * half);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_STATUS_OK(SiluGate(dx.as<float>(), dx.as<float>(), rows, half, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dx, rows * half));
  ExpectAllNear(y, expected, kRelTol, kAbsTol, "SiluGate in place");
}

TEST(CudaActivationArgsTest, RejectsNegativeSizes) {
  EXPECT_EQ(Activate(Activation::kRelu, nullptr, nullptr, -1, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SiluGate(nullptr, nullptr, 2, -3, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SiluGate(nullptr, nullptr, 0, 3, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
