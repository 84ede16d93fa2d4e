#include "kernels/cpu/activation.h"

#include <cmath>

#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::ExpF;
using internal::kParallelMinWork;

// 0.5 x (1 + tanh(u)) == x * sigmoid(2u): no cancellation for large negative x.
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

REEL_CPU_MULTIVERSION void ActivateRange(Activation act, const float* x, float* y, int64_t n) {
  switch (act) {
    case Activation::kRelu:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];  // NaN propagates, as in PyTorch.
      return;
    case Activation::kSilu:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + ExpF(-x[i]));
      return;
    case Activation::kGeluTanh:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float u = kSqrt2OverPi * (v + kGeluCubic * v * v * v);
        y[i] = v / (1.0f + ExpF(-2.0f * u));
      }
      return;
    case Activation::kGeluErf:
      // 0.5 x erfc(-x/sqrt2) == 0.5 x (1 + erf(x/sqrt2)) without cancellation for negative x.
      for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * std::erfc(-x[i] * 0.70710678118654752f);
      return;
  }
}

REEL_CPU_MULTIVERSION void SiluGateRow(const float* x, float* y, int64_t half) {
#pragma omp simd
  for (int64_t j = 0; j < half; ++j) {
    const float g = x[half + j];
    y[j] = x[j] * (g / (1.0f + ExpF(-g)));
  }
}

}  // namespace

void Activate(Activation act, const float* x, float* y, int64_t n) {
  constexpr int64_t kChunk = 1 << 13;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMinWork / 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    ActivateRange(act, x + begin, y + begin, n - begin < kChunk ? n - begin : kChunk);
  }
}

void SiluGate(const float* x, float* y, int64_t rows, int64_t half) {
  // y may alias x (in-place narrowing): row r only overwrites input rows < r, so rows must run in
  // order.
  const bool overlaps = y < x + rows * 2 * half && x < y + rows * half;
  if (overlaps) {
    for (int64_t r = 0; r < rows; ++r) SiluGateRow(x + r * 2 * half, y + r * half, half);
    return;
  }
#pragma omp parallel for if (rows * half >= kParallelMinWork / 4)
  for (int64_t r = 0; r < rows; ++r) SiluGateRow(x + r * 2 * half, y + r * half, half);
}

}  // namespace reel::kernels::cpu
