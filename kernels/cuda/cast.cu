#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cast.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

enum class Cast { kF32ToF16, kF16ToF32, kF32ToBf16, kBf16ToF32 };

// The _rn conversions round to nearest even (overflow to inf, denormals kept). NaNs are spelled out
// so every bit matches the CPU backend (x86 F16C semantics): the hardware would return a canonical
// NaN, the CPU keeps the sign and the top payload bits and sets the quiet bit.
__device__ __forceinline__ uint16_t F32ToF16Bits(float f) {
  const uint32_t bits = __float_as_uint(f);
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return ((bits >> 16) & 0x8000u) | 0x7E00u | ((abs >> 13) & 0x3FFu);
  return __half_as_ushort(__float2half_rn(f));
}

__device__ __forceinline__ float F16BitsToF32(uint16_t h) {
  if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    return __uint_as_float(sign | 0x7FC00000u | (static_cast<uint32_t>(h & 0x3FFu) << 13));
  }
  return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ uint16_t F32ToBf16Bits(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (bits >> 16) | 0x40u;
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

// bf16 is the top half of an f32, so widening is exact for every pattern (NaN payloads included).
__device__ __forceinline__ float Bf16BitsToF32(uint16_t b) {
  return __uint_as_float(static_cast<uint32_t>(b) << 16);
}

template <Cast kCast, typename In, typename Out>
__global__ void CastKernel(const In* x, Out* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (kCast == Cast::kF32ToF16) y[i] = F32ToF16Bits(x[i]);
    if constexpr (kCast == Cast::kF16ToF32) y[i] = F16BitsToF32(x[i]);
    if constexpr (kCast == Cast::kF32ToBf16) y[i] = F32ToBf16Bits(x[i]);
    if constexpr (kCast == Cast::kBf16ToF32) y[i] = Bf16BitsToF32(x[i]);
  }
}

template <Cast kCast, typename In, typename Out>
absl::Status Launch(const char* name, const In* x, Out* y, int64_t n, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes(name, {n}));
  if (n == 0) return absl::OkStatus();
  CastKernel<kCast><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
  return internal::LaunchStatus(name);
}

}  // namespace

absl::Status F32ToF16(const float* x, uint16_t* y, int64_t n, cudaStream_t stream) {
  return Launch<Cast::kF32ToF16>("F32ToF16", x, y, n, stream);
}
absl::Status F16ToF32(const uint16_t* x, float* y, int64_t n, cudaStream_t stream) {
  return Launch<Cast::kF16ToF32>("F16ToF32", x, y, n, stream);
}
absl::Status F32ToBf16(const float* x, uint16_t* y, int64_t n, cudaStream_t stream) {
  return Launch<Cast::kF32ToBf16>("F32ToBf16", x, y, n, stream);
}
absl::Status Bf16ToF32(const uint16_t* x, float* y, int64_t n, cudaStream_t stream) {
  return Launch<Cast::kBf16ToF32>("Bf16ToF32", x, y, n, stream);
}

}  // namespace reel::kernels::cuda
