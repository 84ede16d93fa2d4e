#include "kernels/cuda/internal.cuh"
#include "kernels/cuda/norm.h"

namespace reel::kernels::cuda {
namespace {

using internal::BlockSum;
using internal::kThreads;
using internal::kWarp;

// Rows beyond this many are covered by the block-stride loop over rows.
constexpr int64_t kMaxRowBlocks = 65535;

unsigned RowBlocks(int64_t rows) { return static_cast<unsigned>(std::min(rows, kMaxRowBlocks)); }

// One block per row. Two passes over the row (mean, then the sum of squared deviations) rather than
// E[x^2] - mean^2, which cancels badly when |mean| >> std. Every element is read and written by the
// same thread after both reductions, so x == y is safe.
// Affine: y = xhat * gamma + beta. Modulate: y = xhat * (1 + scale) + shift, with the modulation
// row at r * mod_row_stride.
template <bool kModulate>
__global__ void LayerNormKernel(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                                const float* mul, const float* add, int64_t mod_row_stride) {
  __shared__ float scratch[kWarp + 1];
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // The mean is summed relative to x[0] so a large common offset does not swamp the f32 sum.
    const float x0 = xr[0];
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += xr[c] - x0;
    const float mean = x0 + BlockSum(sum, scratch) * inv_cols;
    float sq = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float d = xr[c] - mean;
      sq += d * d;
    }
    const float var = BlockSum(sq, scratch) * inv_cols;
    const float inv_std = 1.0f / sqrtf(var + eps);
    const float* mr = kModulate && mul != nullptr ? mul + r * mod_row_stride : mul;
    const float* ar = kModulate && add != nullptr ? add + r * mod_row_stride : add;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      float v = (xr[c] - mean) * inv_std;
      if constexpr (kModulate) {
        if (mr != nullptr) v = v * (1.0f + mr[c]);
      } else {
        if (mr != nullptr) v = v * mr[c];
      }
      if (ar != nullptr) v = v + ar[c];
      yr[c] = v;
    }
  }
}

__global__ void RmsNormKernel(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                              const float* weight) {
  __shared__ float scratch[kWarp + 1];
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sq = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sq += xr[c] * xr[c];
    const float inv_rms = 1.0f / sqrtf(BlockSum(sq, scratch) * inv_cols + eps);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = xr[c] * inv_rms;
      yr[c] = weight != nullptr ? v * weight[c] : v;
    }
  }
}

}  // namespace

absl::Status LayerNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                       const float* gamma, const float* beta, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("LayerNorm", {rows, cols}));
  if (rows == 0 || cols == 0) return absl::OkStatus();
  LayerNormKernel<false>
      <<<RowBlocks(rows), kThreads, 0, stream>>>(x, y, rows, cols, eps, gamma, beta, 0);
  return internal::LaunchStatus("LayerNorm");
}

absl::Status RmsNorm(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                     const float* weight, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("RmsNorm", {rows, cols}));
  if (rows == 0 || cols == 0) return absl::OkStatus();
  RmsNormKernel<<<RowBlocks(rows), kThreads, 0, stream>>>(x, y, rows, cols, eps, weight);
  return internal::LaunchStatus("RmsNorm");
}

absl::Status LayerNormModulate(const float* x, float* y, int64_t rows, int64_t cols, float eps,
                               const float* shift, const float* scale, int64_t mod_row_stride,
                               cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(
      internal::CheckSizes("LayerNormModulate", {rows, cols, mod_row_stride}));
  if (rows == 0 || cols == 0) return absl::OkStatus();
  LayerNormKernel<true><<<RowBlocks(rows), kThreads, 0, stream>>>(x, y, rows, cols, eps, scale,
                                                                  shift, mod_row_stride);
  return internal::LaunchStatus("LayerNormModulate");
}

}  // namespace reel::kernels::cuda
