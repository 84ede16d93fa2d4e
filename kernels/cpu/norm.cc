#include "kernels/cpu/norm.h"

#include <cmath>

#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// Two passes (mean, then centered second moment): no E[x^2] - E[x]^2 cancellation. The mean is
// summed relative to x[0] so a large common offset does not swamp the f32 sum.
REEL_CPU_MULTIVERSION void MeanInvStd(const float* x, int64_t cols, float eps, float* mean,
                                      float* inv_std) {
  const float x0 = x[0];
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; ++j) sum += x[j] - x0;
  const float mu = x0 + sum / static_cast<float>(cols);
  float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < cols; ++j) sq += (x[j] - mu) * (x[j] - mu);
  *mean = mu;
  *inv_std = 1.0f / std::sqrt(sq / static_cast<float>(cols) + eps);
}

REEL_CPU_MULTIVERSION void LayerNormRow(const float* x, float* y, int64_t cols, float eps,
                                        const float* gamma, const float* beta) {
  float mu, inv;
  MeanInvStd(x, cols, eps, &mu, &inv);
  if (gamma != nullptr && beta != nullptr) {
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mu) * inv * gamma[j] + beta[j];
  } else if (gamma != nullptr) {
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mu) * inv * gamma[j];
  } else if (beta != nullptr) {
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mu) * inv + beta[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mu) * inv;
  }
}

REEL_CPU_MULTIVERSION void RmsNormRow(const float* x, float* y, int64_t cols, float eps,
                                      const float* weight) {
  float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < cols; ++j) sq += x[j] * x[j];
  const float inv = 1.0f / std::sqrt(sq / static_cast<float>(cols) + eps);
  if (weight != nullptr) {
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) y[j] = x[j] * inv * weight[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) y[j] = x[j] * inv;
  }
}

REEL_CPU_MULTIVERSION void LayerNormModulateRow(const float* x, float* y, int64_t cols, float eps,
                                                const float* shift, const float* scale) {
  float mu, inv;
  MeanInvStd(x, cols, eps, &mu, &inv);
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mu) * inv * (1.0f + scale[j]) + shift[j];
}

}  // namespace

void LayerNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* gamma,
               const float* beta) {
  if (cols <= 0) return;
#pragma omp parallel for if (rows * cols >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r)
    LayerNormRow(x + r * cols, y + r * cols, cols, eps, gamma, beta);
}

void RmsNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps, const float* weight) {
#pragma omp parallel for if (rows * cols >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) RmsNormRow(x + r * cols, y + r * cols, cols, eps, weight);
}

void LayerNormModulate(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                       const float* shift, const float* scale, int64_t mod_row_stride) {
  if (cols <= 0) return;
#pragma omp parallel for if (rows * cols >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    LayerNormModulateRow(x + r * cols, y + r * cols, cols, eps, shift + r * mod_row_stride,
                         scale + r * mod_row_stride);
  }
}

}  // namespace reel::kernels::cpu
