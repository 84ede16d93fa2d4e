#pragma once
// Shared by the CPU kernel sources only (not part of the kernel API).
#include <bit>
#include <cstdint>

// Hot per-row helpers are compiled twice, for AVX2+FMA (x86-64-v3) and for the baseline, and picked
// at load time (GCC ifunc), so one binary runs everywhere yet uses 256-bit vectors where they
// exist. OpenMP regions stay outside these helpers: GCC outlines them before cloning.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define REEL_CPU_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define REEL_CPU_MULTIVERSION
#endif

namespace reel::kernels::cpu::internal {

// Below this many scalar operations a parallel region costs more than it saves (2-core machine,
// passive OpenMP waiting: each region wakes the other thread through a futex).
inline constexpr int64_t kParallelMinWork = int64_t{1} << 17;

// exp(x) in f32 that GCC vectorizes inside `#pragma omp simd` loops (std::exp is a libm call that
// blocks vectorization). Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-7 polynomial for e^r,
// within ~2 ulp of the exact result; 2^n is applied as two factors so results that underflow into
// denormals are still right. exp(-inf) = 0, exp(+inf) = +inf, NaN propagates.
__attribute__((always_inline)) inline float ExpF(float x) {
  const float xc = x < -110.0f ? -110.0f : (x > 89.0f ? 89.0f : x);
  // Round x*log2(e) to the nearest integer with the 1.5*2^23 trick (vectorizes without SSE4.1).
  constexpr float kMagic = 12582912.0f;
  const float t = xc * 1.44269504088896341f + kMagic;
  const float nf = t - kMagic;
  const int32_t n = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kMagic);
  const float r = (xc - nf * 0.693359375f) - nf * -2.12194440e-4f;  // Cody-Waite split of ln2.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t n1 = n >> 1;
  const int32_t n2 = n - n1;
  const float s1 = std::bit_cast<float>((n1 + 127) << 23);
  const float s2 = std::bit_cast<float>((n2 + 127) << 23);
  const float y = p * s1 * s2;
  return x != x ? x : y;
}

}  // namespace reel::kernels::cpu::internal
