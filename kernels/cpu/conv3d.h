#pragma once
// Causal 3D convolution on channels-first video tensors (CausalConv of pipeline/model/VAE.md).
#include <cstdint>

namespace reel::kernels::cpu {

// Causal conv, stride 1, zero padding kk/2 in space:
//   y[o, t, h, w] = b[o] + sum_{i,a,p,q} W[o, i, a, p, q] * xx[i, t + a - (kt - 1), h + p - kk/2,
//                                                              w + q - kk/2]
// x (cin, frames, height, width); weight (cout, cin, kt, kk, kk); bias (cout) or null;
// y (cout, frames, height, width). In time, xx is x preceded by `history` (cin, kt - 1, height,
// width): the last kt - 1 input frames of the previous chunk; null means zeros (the start of a
// video). kt and kk are 1 or 3. Implemented as im2col + Gemm over groups of frames.
void CausalConv3d(const float* x, const float* history, int64_t cin, int64_t frames, int64_t height,
                  int64_t width, const float* weight, const float* bias, int64_t cout, int kt,
                  int kk, float* y);

// The same as a plain loop with double accumulation: the oracle for tests, never the hot path.
void CausalConv3dReference(const float* x, const float* history, int64_t cin, int64_t frames,
                           int64_t height, int64_t width, const float* weight, const float* bias,
                           int64_t cout, int kt, int kk, float* y);

}  // namespace reel::kernels::cpu
