#include "kernels/cuda/internal.cuh"
#include "kernels/cuda/video_ops.h"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// Threads of a warp take neighbouring positions, so every channel's read is coalesced. Each
// element is read and written by the same thread, so x == y is safe.
__global__ void ChannelRmsNormKernel(const float* x, int64_t ch, int64_t n, const float* gamma,
                                     float eps, bool silu, float* y) {
  const float inv_ch = 1.0f / static_cast<float>(ch);
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < n;
       p += int64_t{gridDim.x} * blockDim.x) {
    float sq = 0.0f;
    for (int64_t c = 0; c < ch; ++c) {
      const float v = x[c * n + p];
      sq += v * v;
    }
    const float inv = 1.0f / sqrtf(sq * inv_ch + eps);
    for (int64_t c = 0; c < ch; ++c) {
      float v = x[c * n + p] * inv * gamma[c];
      if (silu) v = v / (1.0f + expf(-v));  // the CPU's SiLU form, full-precision expf
      y[c * n + p] = v;
    }
  }
}

// One thread per output element: y[plane, i, j] = x[plane, i / 2, j / 2].
__global__ void NearestUp2Kernel(const float* x, int64_t planes, int64_t height, int64_t width,
                                 float* y) {
  const int64_t out_w = 2 * width, out_plane = 4 * height * width, total = planes * out_plane;
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
       o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t plane = o / out_plane;
    const int64_t within = o - plane * out_plane;
    const int64_t i = within / out_w;
    const int64_t j = within - i * out_w;
    y[o] = x[(plane * height + i / 2) * width + j / 2];
  }
}

}  // namespace

absl::Status ChannelRmsNorm(const float* x, int64_t ch, int64_t n, const float* gamma, float eps,
                            bool silu, float* y, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("ChannelRmsNorm", {ch, n}));
  if (ch == 0 || n == 0) return absl::OkStatus();
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("ChannelRmsNorm", "x", x));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("ChannelRmsNorm", "gamma", gamma));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("ChannelRmsNorm", "y", y));
  if (!(eps > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("ChannelRmsNorm: eps ", eps, " must be > 0"));
  }
  ChannelRmsNormKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, ch, n, gamma, eps, silu, y);
  return internal::LaunchStatus("ChannelRmsNorm");
}

absl::Status NearestUp2(const float* x, int64_t planes, int64_t height, int64_t width, float* y,
                        cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("NearestUp2", {planes, height, width}));
  if (planes == 0 || height == 0 || width == 0) return absl::OkStatus();
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("NearestUp2", "x", x));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("NearestUp2", "y", y));
  NearestUp2Kernel<<<BlocksFor(planes * 4 * height * width), kThreads, 0, stream>>>(
      x, planes, height, width, y);
  return internal::LaunchStatus("NearestUp2");
}

}  // namespace reel::kernels::cuda
