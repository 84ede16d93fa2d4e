// The causal VAE's layout kernels against the CPU: ChannelRmsNorm (+ SiLU) against
// video::ChannelRmsNorm and kernels::cpu::Activate (channels summed in the same order; expf vs the
// CPU's vector exp: |err| <= 1e-5 + 1e-5 |ref|), NearestUp2 against its closed form (bit-exact: a
// copy). Argument checks run everywhere.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cuda/video_ops.h"
#include "pipeline/model/video_ops.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr float kEps = 1e-6f;
using CudaVideoOpsTest = CudaKernelTest;

struct Size {
  int64_t ch, n;
};
// One channel, reel-tiny's widths, and positions below, at and above one block of 256 threads.
constexpr Size kNormSizes[] = {{1, 7}, {3, 256}, {16, 257}, {64, 1000}, {8, 4096}};

TEST_F(CudaVideoOpsTest, ChannelRmsNormMatchesCpuWithAndWithoutSilu) {
  for (const Size s : kNormSizes) {
    const int64_t total = s.ch * s.n;
    const std::vector<float> x = RandomVector(total, 41, -3.0f, 3.0f);
    const std::vector<float> gamma = RandomVector(s.ch, 42, 0.5f, 1.5f);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dg, ToDevice(gamma));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(total * sizeof(float)));
    for (const bool silu : {false, true}) {
      SCOPED_TRACE(::testing::Message() << s.ch << " x " << s.n << " silu=" << silu);
      std::vector<float> expected(total);
      video::ChannelRmsNorm(x.data(), s.n, s.ch, s.n, gamma.data(), kEps, /*floor=*/0.0f,
                            expected.data());
      if (silu) {
        cpu::Activate(cpu::Activation::kSilu, expected.data(), expected.data(), total);
      }
      ASSERT_STATUS_OK(ChannelRmsNorm(dx.as<float>(), s.ch, s.n, dg.as<float>(), kEps, silu,
                                      dy.as<float>(), stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, total));
      ExpectAllNear(y, expected, 1e-5, 1e-5, "ChannelRmsNorm");
    }
  }
}

TEST_F(CudaVideoOpsTest, ChannelRmsNormInPlace) {
  const int64_t ch = 32, n = 777;
  const std::vector<float> x = RandomVector(ch * n, 43, -2.0f, 2.0f);
  const std::vector<float> gamma = RandomVector(ch, 44, 0.5f, 1.5f);
  std::vector<float> expected(ch * n);
  video::ChannelRmsNorm(x.data(), n, ch, n, gamma.data(), kEps, 0.0f, expected.data());
  cpu::Activate(cpu::Activation::kSilu, expected.data(), expected.data(), ch * n);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dg, ToDevice(gamma));
  ASSERT_STATUS_OK(ChannelRmsNorm(dx.as<float>(), ch, n, dg.as<float>(), kEps, /*silu=*/true,
                                  dx.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dx, ch * n));
  ExpectAllNear(y, expected, 1e-5, 1e-5, "ChannelRmsNorm in place");
}

TEST_F(CudaVideoOpsTest, NearestUp2IsTheClosedForm) {
  struct Planes {
    int64_t planes, h, w;
  };
  for (const Planes p : {Planes{1, 1, 1}, Planes{3, 5, 7}, Planes{16, 16, 16}, Planes{2, 33, 70}}) {
    SCOPED_TRACE(::testing::Message() << p.planes << " x " << p.h << " x " << p.w);
    const std::vector<float> x = RandomVector(p.planes * p.h * p.w, 45);
    std::vector<float> expected(4 * x.size());
    for (int64_t q = 0; q < p.planes; ++q) {
      for (int64_t i = 0; i < 2 * p.h; ++i) {
        for (int64_t j = 0; j < 2 * p.w; ++j) {
          expected[(q * 2 * p.h + i) * 2 * p.w + j] = x[(q * p.h + i / 2) * p.w + j / 2];
        }
      }
    }
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(expected.size() * sizeof(float)));
    ASSERT_STATUS_OK(NearestUp2(dx.as<float>(), p.planes, p.h, p.w, dy.as<float>(), stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, expected.size()));
    ExpectAllNear(y, expected, 0.0, 0.0, "NearestUp2");
  }
}

TEST(CudaVideoOpsArgsTest, RejectsBadArgumentsWithoutLaunching) {
  float dummy = 0.0f;
  EXPECT_EQ(ChannelRmsNorm(nullptr, -1, 4, nullptr, kEps, false, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChannelRmsNorm(&dummy, 1, 1, nullptr, kEps, false, &dummy, nullptr).code(),
            absl::StatusCode::kInvalidArgument);  // null gamma
  EXPECT_EQ(ChannelRmsNorm(&dummy, 1, 1, &dummy, 0.0f, false, &dummy, nullptr).code(),
            absl::StatusCode::kInvalidArgument);  // eps must be positive
  EXPECT_TRUE(ChannelRmsNorm(nullptr, 4, 0, nullptr, kEps, true, nullptr, nullptr).ok());
  EXPECT_EQ(NearestUp2(nullptr, 1, -2, 3, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NearestUp2(&dummy, 1, 1, 1, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);  // null y
  EXPECT_TRUE(NearestUp2(nullptr, 0, 5, 5, nullptr, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
