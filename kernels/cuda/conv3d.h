#pragma once
// Causal 3D convolution on the GPU, the contract of kernels/cpu/conv3d.h (the VAE's CausalConv);
// device pointers.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// y[o, t, h, w] = b[o] + Σ_{i,a,p,q} W[o, i, a, p, q] · xx[i, t + a − (kt − 1), h + p − kk/2, w + q
// − kk/2] x (cin, frames, height, width); weight (cout, cin, kt, kk, kk); bias (cout) or null; y
// (cout, frames, height, width). Stride 1, zero padding kk/2 in space. In time, xx is x preceded by
// `history` (cin, kt − 1, height, width): the last kt − 1 input frames of the previous chunk; null
// means zeros (the start of a video). kt and kk are 1 or 3. y must not overlap x or history.
// Implemented as im2col into stream-ordered scratch (at most kConv3dColumnBytes, whole frames at a
// time) + one cuBLAS GEMM per group of frames.
inline constexpr int64_t kConv3dColumnBytes = int64_t{256} << 20;
absl::Status CausalConv3d(const float* x, const float* history, int64_t cin, int64_t frames,
                          int64_t height, int64_t width, const float* weight, const float* bias,
                          int64_t cout, int kt, int kk, float* y, cublasHandle_t cublas,
                          cudaStream_t stream);

// The same with an explicit column budget (tests use a small one to exercise the frame groups).
absl::Status CausalConv3dWithScratch(const float* x, const float* history, int64_t cin,
                                     int64_t frames, int64_t height, int64_t width,
                                     const float* weight, const float* bias, int64_t cout, int kt,
                                     int kk, float* y, int64_t column_bytes, cublasHandle_t cublas,
                                     cudaStream_t stream);

}  // namespace reel::kernels::cuda
