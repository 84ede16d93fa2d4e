#pragma once
// cuBLASLt's half of GemmBf16 (gemm_bf16.h), host code only: the process-wide Lt handles, the
// algorithm cache and the matmul call. Not part of the kernel API.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace reel::kernels::cuda::internal {

// The operands of GemmBf16 after its argument checks (sizes positive, pointers set, leading
// dimensions covering a row).
struct Bf16GemmOperands {
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const uint16_t* a = nullptr;
  int64_t lda = 0;
  const uint16_t* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;
};

// How the row-major GEMM is posed to column-major cuBLASLt: row-major C (m, n) is column-major
// Cᵀ (n, m) with the same leading dimension, so Lt computes D = Cᵀ = op(B)ᵀ · Aᵀ with its A = our
// B and its B = our A. Each matrix is described as stored (rows x cols, column-major, ld), op()
// applies on top. Lt's bias epilogue adds bias[r] to D's row r, i.e. our output column.
struct LtMatmulShape {
  cublasOperation_t trans_a = CUBLAS_OP_N;  // op of Lt's A (our B)
  cublasOperation_t trans_b = CUBLAS_OP_N;  // op of Lt's B (our A)
  uint64_t a_rows = 0, a_cols = 0;          // Lt's A as stored
  int64_t lda = 0;
  uint64_t b_rows = 0, b_cols = 0;  // Lt's B as stored
  int64_t ldb = 0;
  uint64_t c_rows = 0, c_cols = 0;  // C and D
  int64_t ldc = 0;
};
LtMatmulShape LtShapeFor(const Bf16GemmOperands& g);

// Queues the GEMM on `stream` as one cublasLtMatmul (bias fused as the epilogue) and returns true;
// returns false having queued nothing when cuBLASLt has no algorithm for these operands, so the
// caller can run another route. The first call per shape asks cuBLASLt's heuristic; its answer is
// cached per (device, shape, leading dimensions, transposition, bias, pointer alignments).
absl::StatusOr<bool> LtGemmBf16(const Bf16GemmOperands& g, cudaStream_t stream);

}  // namespace reel::kernels::cuda::internal
