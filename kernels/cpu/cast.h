#pragma once
// Conversions between f32 and the 16-bit storage types (IEEE half, bfloat16), round-to-nearest-even.
#include <cstdint>

namespace reel::kernels::cpu {

void F32ToF16(const float* x, uint16_t* y, int64_t n);
void F16ToF32(const uint16_t* x, float* y, int64_t n);
void F32ToBf16(const float* x, uint16_t* y, int64_t n);
void Bf16ToF32(const uint16_t* x, float* y, int64_t n);

}  // namespace reel::kernels::cpu
