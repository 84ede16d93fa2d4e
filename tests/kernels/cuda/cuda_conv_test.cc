// Depthwise 3x3 and temporal (kernel 3) convolutions against the CPU backend.
// Depthwise: 9 products per output, |err| <= 1e-6 + 1e-5 |ref|. Temporal: GEMMs over cin = 37,
// |err| <= 1e-5 + 1e-4 |ref|.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cuda/conv.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

using CudaConvTest = CudaKernelTest;

struct Image {
  int64_t images, h, w, c;
};

TEST_F(CudaConvTest, DepthwiseMatchesCpuWithAndWithoutBias) {
  for (const Image s :
       {Image{2, 5, 7, 19}, Image{1, 1, 1, 3}, Image{1, 2, 9, 64}, Image{3, 8, 8, 1}}) {
    const int64_t n = s.images * s.h * s.w * s.c;
    const std::vector<float> x = RandomVector(n, 61);
    const std::vector<float> weight = RandomVector(s.c * 9, 62);
    const std::vector<float> bias = RandomVector(s.c, 63);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dw, ToDevice(weight));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(bias));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(n * sizeof(float)));
    for (const bool with_bias : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << s.images << "x" << s.h << "x" << s.w << "x" << s.c << " bias=" << with_bias);
      std::vector<float> expected(n);
      cpu::DepthwiseConv2d3x3(x.data(), weight.data(), with_bias ? bias.data() : nullptr,
                              expected.data(), s.images, s.h, s.w, s.c);
      ASSERT_STATUS_OK(DepthwiseConv2d3x3(dx.as<float>(), dw.as<float>(),
                                          with_bias ? db.as<float>() : nullptr, dy.as<float>(),
                                          s.images, s.h, s.w, s.c, stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, n));
      ExpectAllNear(y, expected, 1e-5, 1e-6, "DepthwiseConv2d3x3");
    }
  }
}

// Every combination of padding (causal / centered), history length (none, shorter than, equal to
// and longer than the two frames a tap can reach back) and accumulate.
TEST_F(CudaConvTest, TemporalMatchesCpuForPaddingHistoryAndAccumulate) {
  const int64_t frames = 4, spatial = 6, cin = 37, cout = 11;
  const std::vector<float> x = RandomVector(frames * spatial * cin, 64);
  const std::vector<float> history = RandomVector(3 * spatial * cin, 65);
  const std::vector<float> weight = RandomVector(cout * cin * 3, 66);
  const std::vector<float> y0 = RandomVector(frames * spatial * cout, 67);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dh, ToDevice(history));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dw, ToDevice(weight));
  for (const int pad_front : {1, 2}) {
    for (const int64_t history_frames : {0, 1, 2, 3}) {
      for (const bool accumulate : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "pad_front=" << pad_front << " history="
                                          << history_frames << " accumulate=" << accumulate);
        // History is the last history_frames frames before x.
        const float* h =
            history_frames > 0 ? history.data() + (3 - history_frames) * spatial * cin : nullptr;
        const float* dhp =
            history_frames > 0 ? dh.as<float>() + (3 - history_frames) * spatial * cin : nullptr;
        std::vector<float> expected = y0;
        cpu::TemporalConv3(x.data(), h, history_frames, frames, spatial, cin, weight.data(), cout,
                           pad_front, accumulate, expected.data());
        ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(y0));
        ASSERT_STATUS_OK(TemporalConv3(dx.as<float>(), dhp, history_frames, frames, spatial, cin,
                                       dw.as<float>(), cout, pad_front, accumulate, dy.as<float>(),
                                       cublas(), stream()));
        ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, y0.size()));
        ExpectAllNear(y, expected, 1e-4, 1e-5, "TemporalConv3");
      }
    }
  }
}

TEST_F(CudaConvTest, TemporalSingleFrameWithHistory) {
  const int64_t spatial = 3, cin = 4, cout = 5;
  const std::vector<float> x = RandomVector(spatial * cin, 68);
  const std::vector<float> history = RandomVector(2 * spatial * cin, 69);
  const std::vector<float> weight = RandomVector(cout * cin * 3, 70);
  std::vector<float> expected(spatial * cout);
  cpu::TemporalConv3(x.data(), history.data(), 2, 1, spatial, cin, weight.data(), cout, 2, false,
                     expected.data());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dh, ToDevice(history));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dw, ToDevice(weight));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(std::vector<float>(spatial * cout, NAN)));
  ASSERT_STATUS_OK(TemporalConv3(dx.as<float>(), dh.as<float>(), 2, 1, spatial, cin, dw.as<float>(),
                                 cout, 2, false, dy.as<float>(), cublas(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, expected.size()));
  ExpectAllNear(y, expected, 1e-4, 1e-5, "TemporalConv3 one frame");
}

TEST(CudaConvArgsTest, RejectsBadArguments) {
  EXPECT_EQ(DepthwiseConv2d3x3(nullptr, nullptr, nullptr, nullptr, 1, -2, 2, 2, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      TemporalConv3(nullptr, nullptr, 0, 2, 2, 2, nullptr, 2, 3, false, nullptr, nullptr, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      TemporalConv3(nullptr, nullptr, -1, 2, 2, 2, nullptr, 2, 2, false, nullptr, nullptr, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reel::kernels::cuda
