#pragma once
#include <cstdint>

namespace reel::kernels::cpu {

// Normalizes each of `rows` rows of width `cols`; gamma/beta may be null (no affine). x and y may alias.
void LayerNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma,
               const float* beta);

// y = x / sqrt(mean(x^2) + eps) * weight (weight may be null).
void RmsNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* weight);

// adaLN modulation fused after LayerNorm: y = LN(x) * (1 + scale) + shift, scale/shift of width cols.
// scale/shift advance by mod_row_stride per row (0 = one vector for all rows).
void LayerNormModulate(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                       const float* shift, const float* scale, int64_t mod_row_stride);

}  // namespace reel::kernels::cpu
