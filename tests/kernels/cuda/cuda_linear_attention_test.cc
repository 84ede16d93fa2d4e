// ReLU linear attention state update and readout against the CPU backend. GEMMs over n (accumulate)
// and d (apply) plus a division by the normalizer: |err| <= 1e-5 + 1e-4 |ref|.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cpu/linear_attention.h"
#include "kernels/cuda/linear_attention.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

using CudaLinearAttentionTest = CudaKernelTest;

struct Size {
  int64_t n, heads, d;
};

TEST_F(CudaLinearAttentionTest, AccumulateAddsToExistingState) {
  // n not a multiple of the 8 row lanes of the column-sum kernel; widths below and above 32.
  for (const Size s : {Size{17, 2, 8}, Size{1001, 3, 32}, Size{5, 20, 112}}) {
    SCOPED_TRACE(::testing::Message() << "n=" << s.n << " heads=" << s.heads << " d=" << s.d);
    const int64_t width = s.heads * s.d;
    // ReLU features are non-negative.
    const std::vector<float> k = RandomVector(s.n * width, 81, 0.0f, 1.0f);
    const std::vector<float> k_rot = RandomVector(s.n * width, 82);
    const std::vector<float> v = RandomVector(s.n * width, 83);
    std::vector<float> kv_expected = RandomVector(s.heads * s.d * s.d, 84);
    std::vector<float> ksum_expected = RandomVector(width, 85, 0.0f, 5.0f);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dk, ToDevice(k));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dk_rot, ToDevice(k_rot));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dv, ToDevice(v));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dkv, ToDevice(kv_expected));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dksum, ToDevice(ksum_expected));
    cpu::LinearAttentionAccumulate(k_rot.data(), k.data(), v.data(), s.n, s.heads, s.d,
                                   kv_expected.data(), ksum_expected.data());
    ASSERT_STATUS_OK(LinearAttentionAccumulate(dk_rot.as<float>(), dk.as<float>(), dv.as<float>(),
                                               s.n, s.heads, s.d, dkv.as<float>(),
                                               dksum.as<float>(), cublas(), stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> kv, ToHost<float>(dkv, kv_expected.size()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> ksum, ToHost<float>(dksum, ksum_expected.size()));
    ExpectAllNear(kv, kv_expected, kRelTol, kAbsTol, "kv");
    ExpectAllNear(ksum, ksum_expected, kRelTol, kAbsTol, "ksum");
  }
}

TEST_F(CudaLinearAttentionTest, ApplyMatchesCpu) {
  for (const Size s : {Size{17, 2, 8}, Size{300, 3, 32}, Size{7, 20, 112}}) {
    SCOPED_TRACE(::testing::Message() << "n=" << s.n << " heads=" << s.heads << " d=" << s.d);
    const int64_t width = s.heads * s.d;
    const std::vector<float> q = RandomVector(s.n * width, 86, 0.0f, 1.0f);
    const std::vector<float> q_rot = RandomVector(s.n * width, 87);
    const std::vector<float> kv = RandomVector(s.heads * s.d * s.d, 88);
    const std::vector<float> ksum = RandomVector(width, 89, 0.5f, 20.0f);
    const float eps = 1e-6f;
    std::vector<float> expected(s.n * width);
    cpu::LinearAttentionApply(q_rot.data(), q.data(), kv.data(), ksum.data(), s.n, s.heads, s.d,
                              eps, expected.data());
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dq, ToDevice(q));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dq_rot, ToDevice(q_rot));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dkv, ToDevice(kv));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dksum, ToDevice(ksum));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dout,
                         DeviceBuffer::Allocate(expected.size() * sizeof(float)));
    ASSERT_STATUS_OK(LinearAttentionApply(dq_rot.as<float>(), dq.as<float>(), dkv.as<float>(),
                                          dksum.as<float>(), s.n, s.heads, s.d, eps,
                                          dout.as<float>(), cublas(), stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> out, ToHost<float>(dout, expected.size()));
    ExpectAllNear(out, expected, kRelTol, kAbsTol, "LinearAttentionApply");
  }
}

TEST(CudaLinearAttentionArgsTest, RejectsNegativeSizes) {
  EXPECT_EQ(LinearAttentionAccumulate(nullptr, nullptr, nullptr, -1, 2, 8, nullptr, nullptr,
                                      nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LinearAttentionApply(nullptr, nullptr, nullptr, nullptr, 3, 2, -8, 1e-6f, nullptr,
                                 nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LinearAttentionAccumulate(nullptr, nullptr, nullptr, 0, 2, 8, nullptr, nullptr,
                                        nullptr, nullptr)
                  .ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
