#pragma once
// Activations on the GPU, the contract of kernels/cpu/activation.h; device pointers.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cpu/activation.h"

namespace reel::kernels::cuda {

using cpu::Activation;

// y[i] = act(x[i]); x and y may alias.
absl::Status Activate(Activation act, const float* x, float* y, int64_t n, cudaStream_t stream);

// GLU gate used by Mix-FFN: for each of `rows` rows of width 2*half, y[r, j] = x[r, j] * silu(x[r,
// half + j]); y is (rows, half). y may alias x (in-place narrowing; then it goes through
// stream-ordered scratch).
absl::Status SiluGate(const float* x, float* y, int64_t rows, int64_t half, cudaStream_t stream);

}  // namespace reel::kernels::cuda
