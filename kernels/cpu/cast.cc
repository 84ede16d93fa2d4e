#include "kernels/cpu/cast.h"

#include <bit>

#include "kernels/cpu/internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define REEL_CAST_HAVE_F16C_PATH 1
#endif

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// Scalar f32 -> f16, round to nearest even; bit-identical to F16C's VCVTPS2PH (imm 0), including
// NaNs (quieted, top payload bits kept) and denormals. After F. Giesen's float_to_half_fast3_rtne.
uint16_t F32ToF16Scalar(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 -> inf.
  if (abs < 0x38800000u) {
    // Half denormal or zero: adding 0.5 puts the f32 ulp at 2^-24 (the half denormal step) and lets
    // the FPU round to nearest even.
    const float shifted = std::bit_cast<float>(abs) + 0.5f;
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(shifted) - 0x3F000000u));
  }
  const uint32_t mant_odd = (abs >> 13) & 1u;
  abs += 0xC8000FFFu + mant_odd;  // Rebias the exponent (127 -> 15) and round half to even.
  return static_cast<uint16_t>(sign | (abs >> 13));
}

// Scalar f16 -> f32 (exact); signalling NaNs come back quiet, as VCVTPH2PS does.
float F16ToF32Scalar(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {
    const float magnitude = static_cast<float>(mant) * 0x1p-24f;  // Exact: mant < 2^10.
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
  }
  if (exp == 31) {
    return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x400000u : 0u));
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

REEL_CPU_MULTIVERSION void F32ToBf16Range(const float* x, uint16_t* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(x[i]);
    const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    const bool nan = (bits & 0x7FFFFFFFu) > 0x7F800000u;
    y[i] = static_cast<uint16_t>(nan ? ((bits >> 16) | 0x40u) : rounded);  // NaN stays NaN, quiet.
  }
}

REEL_CPU_MULTIVERSION void Bf16ToF32Range(const uint16_t* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = std::bit_cast<float>(static_cast<uint32_t>(x[i]) << 16);
}

#if REEL_CAST_HAVE_F16C_PATH
__attribute__((target("avx,f16c"))) void F32ToF16F16c(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = F32ToF16Scalar(x[i]);
}

__attribute__((target("avx,f16c"))) void F16ToF32F16c(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) y[i] = F16ToF32Scalar(x[i]);
}

// CPUID leaf 1 ECX: AVX (bit 28) and F16C (bit 29); clang 14's __builtin_cpu_supports has no
// "f16c".
bool HaveF16c() {
  static const bool have = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_AVX) != 0 && (c & bit_F16C) != 0;
  }();
  return have;
}
#endif

void F32ToF16Range(const float* x, uint16_t* y, int64_t n) {
#if REEL_CAST_HAVE_F16C_PATH
  if (HaveF16c()) return F32ToF16F16c(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = F32ToF16Scalar(x[i]);
}

void F16ToF32Range(const uint16_t* x, float* y, int64_t n) {
#if REEL_CAST_HAVE_F16C_PATH
  if (HaveF16c()) return F16ToF32F16c(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = F16ToF32Scalar(x[i]);
}

// Runs fn over [0, n) in chunks, in parallel when there is enough work.
template <typename Src, typename Dst, typename Fn>
void Chunked(const Src* x, Dst* y, int64_t n, Fn fn) {
  constexpr int64_t kChunk = 1 << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= 4 * kParallelMinWork)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    fn(x + begin, y + begin, n - begin < kChunk ? n - begin : kChunk);
  }
}

}  // namespace

void F32ToF16(const float* x, uint16_t* y, int64_t n) { Chunked(x, y, n, F32ToF16Range); }
void F16ToF32(const uint16_t* x, float* y, int64_t n) { Chunked(x, y, n, F16ToF32Range); }
void F32ToBf16(const float* x, uint16_t* y, int64_t n) { Chunked(x, y, n, F32ToBf16Range); }
void Bf16ToF32(const uint16_t* x, float* y, int64_t n) { Chunked(x, y, n, Bf16ToF32Range); }

}  // namespace reel::kernels::cpu
