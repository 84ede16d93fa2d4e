#include "kernels/cuda/internal.cuh"
#include "kernels/cuda/rope.h"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// One thread per rotated pair; it reads both values before writing them, so x == y is safe.
__global__ void RopeApplyKernel(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                                const float* cos, const float* sin) {
  const int64_t half = d / 2;
  const int64_t total = rows * heads * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = i % half;
    const int64_t rh = i / half;  // r * heads + h
    const int64_t r = rh / heads;
    const int64_t base = rh * d + 2 * j;
    const float c = cos[r * half + j];
    const float s = sin[r * half + j];
    const float x0 = x[base];
    const float x1 = x[base + 1];
    y[base] = x0 * c - x1 * s;
    y[base + 1] = x0 * s + x1 * c;
  }
}

// Rotate-half: column j of a head pairs with j + d/2 (transformers' Llama/Gemma convention).
__global__ void RopeApplyHalfKernel(const float* x, float* y, int64_t rows, int64_t heads,
                                    int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  const int64_t total = rows * heads * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = i % half;
    const int64_t rh = i / half;
    const int64_t r = rh / heads;
    const int64_t base = rh * d + j;
    const float c = cos[r * half + j];
    const float s = sin[r * half + j];
    const float x0 = x[base];
    const float x1 = x[base + half];
    y[base] = x0 * c - x1 * s;
    y[base + half] = x1 * c + x0 * s;
  }
}

using RopeKernel = void (*)(const float*, float*, int64_t, int64_t, int64_t, const float*,
                            const float*);

absl::Status Launch(RopeKernel kernel, const char* op, const float* x, float* y, int64_t rows,
                    int64_t heads, int64_t d, const float* cos, const float* sin,
                    cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes(op, {rows, heads, d}));
  if (d % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": head dim ", d, " must be even"));
  }
  const int64_t total = rows * heads * (d / 2);
  if (total == 0) return absl::OkStatus();
  kernel<<<BlocksFor(total), kThreads, 0, stream>>>(x, y, rows, heads, d, cos, sin);
  return internal::LaunchStatus(op);
}

}  // namespace

absl::Status RopeApply(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                       const float* cos, const float* sin, cudaStream_t stream) {
  return Launch(RopeApplyKernel, "RopeApply", x, y, rows, heads, d, cos, sin, stream);
}

absl::Status RopeApplyHalf(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                           const float* cos, const float* sin, cudaStream_t stream) {
  return Launch(RopeApplyHalfKernel, "RopeApplyHalf", x, y, rows, heads, d, cos, sin, stream);
}

}  // namespace reel::kernels::cuda
