#pragma once
// Rotary embedding on the GPU, the contract of kernels/cpu/rope.h; device pointers.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// Interleaved rotary embedding: for each row r and head h, pairs (2j, 2j+1) of the head's d columns
// rotate by angle[r, j] (the same for every head): out[2j] = x[2j]cos - x[2j+1]sin, out[2j+1] =
// x[2j]sin + x[2j+1]cos. x, y (rows, heads*d); cos/sin (rows, d/2); d even. x and y may alias.
absl::Status RopeApply(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                       const float* cos, const float* sin, cudaStream_t stream);
// Rotate-half convention (column j pairs with j + d/2): out[j] = x[j]cos - x[j+d/2]sin,
// out[j+d/2] = x[j+d/2]cos + x[j]sin; same layout and tables. x and y may alias.
absl::Status RopeApplyHalf(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                           const float* cos, const float* sin, cudaStream_t stream);

}  // namespace reel::kernels::cuda
