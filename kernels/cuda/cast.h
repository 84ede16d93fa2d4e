#pragma once
// Conversions between f32 and the 16-bit storage types (IEEE half, bfloat16) on the GPU,
// round-to-nearest-even; the contract of kernels/cpu/cast.h, bit-identical to it (NaNs included).
// Device pointers; 16-bit values are raw bits.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

absl::Status F32ToF16(const float* x, uint16_t* y, int64_t n, cudaStream_t stream);
absl::Status F16ToF32(const uint16_t* x, float* y, int64_t n, cudaStream_t stream);
absl::Status F32ToBf16(const float* x, uint16_t* y, int64_t n, cudaStream_t stream);
absl::Status Bf16ToF32(const uint16_t* x, float* y, int64_t n, cudaStream_t stream);

}  // namespace reel::kernels::cuda
