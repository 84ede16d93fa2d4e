#pragma once
// Row-major single-precision GEMM on the GPU through cuBLAS: C = alpha * op(A) * op(B) + beta * C,
// the same contract as kernels/cpu/gemm.h. op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc
// are row strides in elements; all matrices are device pointers. The handle is bound to `stream`
// for the call. f32 math only (no TF32), so results match the CPU within f32 rounding.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

absl::Status Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc, cublasHandle_t cublas, cudaStream_t stream);

// batch independent GEMMs; matrix i starts at a + i*stride_a (likewise b, c).
absl::Status GemmBatched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k,
                         float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                         int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                         int64_t stride_c, cublasHandle_t cublas, cudaStream_t stream);

}  // namespace reel::kernels::cuda
