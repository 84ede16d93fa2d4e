#include "kernels/cpu/rope.h"

#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// Rotates the pairs (first(j), second(j)) of each head's d columns by angle j: interleaved pairs
// are (2j, 2j + 1), rotate-half pairs (j, j + d/2). Both conventions compute out = (a cos - b sin,
// a sin + b cos) on their pair (a, b); only the column layout differs.
template <bool kRotateHalf>
REEL_CPU_MULTIVERSION void RopeRow(const float* x, float* y, int64_t heads, int64_t d,
                                   const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < heads; ++h) {
    const float* xh = x + h * d;
    float* yh = y + h * d;
#pragma omp simd
    for (int64_t j = 0; j < half; ++j) {
      const int64_t first = kRotateHalf ? j : 2 * j, second = kRotateHalf ? j + half : 2 * j + 1;
      const float a = xh[first], b = xh[second];
      yh[first] = a * cos[j] - b * sin[j];
      yh[second] = a * sin[j] + b * cos[j];
    }
  }
}

template <bool kRotateHalf>
void RopeRows(const float* x, float* y, int64_t rows, int64_t heads, int64_t d, const float* cos,
              const float* sin) {
  const int64_t width = heads * d, half = d / 2;
#pragma omp parallel for if (rows * width >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    RopeRow<kRotateHalf>(x + r * width, y + r * width, heads, d, cos + r * half, sin + r * half);
  }
}

}  // namespace

void RopeApply(const float* x, float* y, int64_t rows, int64_t heads, int64_t d, const float* cos,
               const float* sin) {
  RopeRows<false>(x, y, rows, heads, d, cos, sin);
}

void RopeApplyHalf(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                   const float* cos, const float* sin) {
  RopeRows<true>(x, y, rows, heads, d, cos, sin);
}

}  // namespace reel::kernels::cpu
