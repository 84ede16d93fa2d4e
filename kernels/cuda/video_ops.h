#pragma once
// The causal video VAE's layout ops on the GPU (pipeline/model/video_ops.h has the CPU versions):
// channels-first f32 tensors (C, T, H, W), device pointers, queued on `stream`. The causal conv is
// conv3d.h's CausalConv3d; the residual add and the time interleave are element-wise ops and
// strided copies (elementwise.h).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// RMS norm over the channels of each position, with an optional SiLU after it:
//   y[c, p] = act(x[c, p] · gamma[c] / sqrt(mean over c of x[·, p]² + eps)),
// x and y (ch, n) dense, gamma (ch). x and y may alias. One thread per position, channels summed
// in order (the CPU's order, so results agree to rounding).
absl::Status ChannelRmsNorm(const float* x, int64_t ch, int64_t n, const float* gamma, float eps,
                            bool silu, float* y, cudaStream_t stream);

// Nearest ×2 up-sampling of `planes` planes of (height, width) → (2·height, 2·width); y must not
// overlap x.
absl::Status NearestUp2(const float* x, int64_t planes, int64_t height, int64_t width, float* y,
                        cudaStream_t stream);

}  // namespace reel::kernels::cuda
