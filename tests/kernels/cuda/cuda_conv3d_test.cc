// Causal 3D convolution against the CPU's double-accumulation reference (CausalConv3dReference).
// im2col + f32 GEMM over K = cin·kt·kk·kk <= 108 products of inputs in [-1, 1]:
// |err| <= 1e-5 + 1e-4 |ref|.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cpu/conv3d.h"
#include "kernels/cuda/conv3d.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

class CudaConv3dTest : public CudaKernelTest {
 protected:
  static constexpr int64_t kCin = 4, kCout = 5, kHeight = 5, kWidth = 6;

  // column_bytes < 0 uses the default budget.
  void Check(int kt, int kk, int64_t frames, bool with_history, bool with_bias,
             int64_t column_bytes) {
    SCOPED_TRACE(::testing::Message() << "kt=" << kt << " kk=" << kk << " frames=" << frames
                                      << " history=" << with_history << " bias=" << with_bias
                                      << " column_bytes=" << column_bytes);
    const int64_t hw = kHeight * kWidth;
    const std::vector<float> x = RandomVector(kCin * frames * hw, 101);
    const std::vector<float> history = RandomVector(kCin * (kt - 1) * hw, 102);
    const std::vector<float> weight = RandomVector(kCout * kCin * kt * kk * kk, 103);
    const std::vector<float> bias = RandomVector(kCout, 104);
    const bool history_used = with_history && kt > 1;
    std::vector<float> expected(kCout * frames * hw);
    cpu::CausalConv3dReference(x.data(), history_used ? history.data() : nullptr, kCin, frames,
                               kHeight, kWidth, weight.data(), with_bias ? bias.data() : nullptr,
                               kCout, kt, kk, expected.data());
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dh, ToDevice(history));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dw, ToDevice(weight));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(bias));
    // Pre-filled with NaN: every output element must be written.
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(std::vector<float>(expected.size(), NAN)));
    const float* h = history_used ? dh.as<float>() : nullptr;
    const float* b = with_bias ? db.as<float>() : nullptr;
    if (column_bytes < 0) {
      ASSERT_STATUS_OK(CausalConv3d(dx.as<float>(), h, kCin, frames, kHeight, kWidth,
                                    dw.as<float>(), b, kCout, kt, kk, dy.as<float>(), cublas(),
                                    stream()));
    } else {
      ASSERT_STATUS_OK(CausalConv3dWithScratch(dx.as<float>(), h, kCin, frames, kHeight, kWidth,
                                               dw.as<float>(), b, kCout, kt, kk, dy.as<float>(),
                                               column_bytes, cublas(), stream()));
    }
    ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, expected.size()));
    ExpectAllNear(y, expected, kRelTol, kAbsTol, "CausalConv3d");
  }
};

TEST_F(CudaConv3dTest, MatchesReferenceForEveryKernelShape) {
  for (const int kt : {1, 3}) {
    for (const int kk : {1, 3}) {
      for (const bool with_history : {false, true}) {
        for (const bool with_bias : {false, true}) Check(kt, kk, 3, with_history, with_bias, -1);
      }
    }
  }
}

TEST_F(CudaConv3dTest, FrameGroupsMatchReference) {
  const int64_t per_frame_bytes = kCin * 27 * kHeight * kWidth * sizeof(float);
  Check(3, 3, 5, true, true, 1);                    // one frame per group
  Check(3, 3, 5, true, true, 2 * per_frame_bytes);  // groups of 2, the last one partial
}

TEST(CudaConv3dArgsTest, RejectsBadKernelSizes) {
  EXPECT_EQ(CausalConv3d(nullptr, nullptr, 1, 1, 1, 1, nullptr, nullptr, 1, 2, 3, nullptr, nullptr,
                         nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CausalConv3d(nullptr, nullptr, 1, -1, 1, 1, nullptr, nullptr, 1, 3, 3, nullptr, nullptr,
                         nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CausalConv3d(nullptr, nullptr, 1, 0, 1, 1, nullptr, nullptr, 1, 3, 3, nullptr,
                           nullptr, nullptr)
                  .ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
