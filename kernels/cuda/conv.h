#pragma once
// Convolutions on the GPU, the contract of kernels/cpu/conv.h; device pointers.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// Depthwise 3x3 convolution, zero padding 1, stride 1, channels-last: x, y (images, h, w, c);
// weight (c, 3, 3) as PyTorch's (c, 1, 3, 3); bias (c) or null. x and y must not overlap.
absl::Status DepthwiseConv2d3x3(const float* x, const float* weight, const float* bias, float* y,
                                int64_t images, int64_t h, int64_t w, int64_t c,
                                cudaStream_t stream);

// Temporal convolution with kernel 3 over frames, full channel mixing (PyTorch Conv2d (cout, cin,
// 3, 1)): x (frames, spatial, cin) channels-last; history (history_frames, spatial, cin) are the
// frames that precede x (null: zeros); missing frames are zeros. y[f] = sum_k W[:, :, k] * xx[f + k
// - pad_front], xx = history ++ x, pad_front = 2 (causal) or 1 (centered) counted relative to x's
// first frame. y is (frames, spatial, cout). Accumulates into y when accumulate. Computed as up to
// six cuBLAS GEMMs (one per tap and source: x or history). y must not overlap x.
absl::Status TemporalConv3(const float* x, const float* history, int64_t history_frames,
                           int64_t frames, int64_t spatial, int64_t cin, const float* weight,
                           int64_t cout, int pad_front, bool accumulate, float* y,
                           cublasHandle_t cublas, cudaStream_t stream);

}  // namespace reel::kernels::cuda
