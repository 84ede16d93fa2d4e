#pragma once
// Row normalizations on the GPU, the contract of kernels/cpu/norm.h; one block per row, device
// pointers.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// Normalizes each of `rows` rows of width `cols` (biased variance, as PyTorch); gamma/beta may be
// null (no affine). x and y may alias.
absl::Status LayerNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                       const float* gamma, const float* beta, cudaStream_t stream);

// y = x / sqrt(mean(x^2) + eps) * weight (weight may be null). x and y may alias.
absl::Status RmsNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                     const float* weight, cudaStream_t stream);

// adaLN modulation fused after LayerNorm: y = LN(x) * (1 + scale) + shift, scale/shift of width
// cols. scale/shift advance by mod_row_stride per row (0 = one vector for all rows). x and y may
// alias.
absl::Status LayerNormModulate(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                               const float* shift, const float* scale, int64_t mod_row_stride,
                               cudaStream_t stream);

}  // namespace reel::kernels::cuda
