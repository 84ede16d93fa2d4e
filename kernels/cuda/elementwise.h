#pragma once
// Element-wise arithmetic on the GPU, the contract of kernels/cpu/elementwise.h: NumPy-style
// broadcasting through strides in elements (a broadcast dimension has stride 0), rank <= kMaxRank.
// Data pointers are device pointers; shape and stride arrays are host arrays (copied into the
// launch).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cpu/elementwise.h"

namespace reel::kernels::cuda {

using cpu::BinaryOp;
using cpu::kMaxRank;

// out[i] = a[i] op b[i] over `shape`, out contiguous; a/b addressed through their strides. out may
// alias a or b where element i of out is element i of that input (the same contiguous layout).
absl::Status BinaryBroadcast(BinaryOp op, int rank, const int64_t* shape, const float* a,
                             const int64_t* a_strides, const float* b, const int64_t* b_strides,
                             float* out, cudaStream_t stream);

// y = alpha*x + beta*y over n elements; beta == 0 does not read y.
absl::Status Axpby(int64_t n, float alpha, const float* x, float beta, float* y,
                   cudaStream_t stream);

// Σ|a − b| and Σ|b| over n elements in double, into host doubles (waits for the stream).
absl::Status AbsDiffSums(int64_t n, const float* a, const float* b, double* sum_abs_diff,
                         double* sum_abs_b, cudaStream_t stream);
// Copies an arbitrary strided view of element size elem_bytes into another strided layout; strides
// are in elements. src and dst must not overlap.
absl::Status StridedCopy(int rank, const int64_t* shape, const void* src,
                         const int64_t* src_strides, void* dst, const int64_t* dst_strides,
                         int elem_bytes, cudaStream_t stream);

}  // namespace reel::kernels::cuda
