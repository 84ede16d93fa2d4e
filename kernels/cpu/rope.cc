#include "kernels/cpu/rope.h"

#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

REEL_CPU_MULTIVERSION void RopeRow(const float* x, float* y, int64_t heads, int64_t d,
                                   const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < heads; ++h) {
    const float* xh = x + h * d;
    float* yh = y + h * d;
#pragma omp simd
    for (int64_t j = 0; j < half; ++j) {
      const float a = xh[2 * j], b = xh[2 * j + 1];
      yh[2 * j] = a * cos[j] - b * sin[j];
      yh[2 * j + 1] = a * sin[j] + b * cos[j];
    }
  }
}

REEL_CPU_MULTIVERSION void RopeHalfRow(const float* x, float* y, int64_t heads, int64_t d,
                                       const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < heads; ++h) {
    const float* xh = x + h * d;
    float* yh = y + h * d;
#pragma omp simd
    for (int64_t j = 0; j < half; ++j) {
      const float a = xh[j], b = xh[j + half];
      yh[j] = a * cos[j] - b * sin[j];
      yh[j + half] = b * cos[j] + a * sin[j];
    }
  }
}

}  // namespace

void RopeApply(const float* x, float* y, int64_t rows, int64_t heads, int64_t d, const float* cos,
               const float* sin) {
  const int64_t width = heads * d, half = d / 2;
#pragma omp parallel for if (rows * width >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    RopeRow(x + r * width, y + r * width, heads, d, cos + r * half, sin + r * half);
  }
}

void RopeApplyHalf(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                   const float* cos, const float* sin) {
  const int64_t width = heads * d, half = d / 2;
#pragma omp parallel for if (rows * width >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    RopeHalfRow(x + r * width, y + r * width, heads, d, cos + r * half, sin + r * half);
  }
}

}  // namespace reel::kernels::cpu
