#pragma once
// cuBLASLt's half of GemmBf16 (gemm_bf16.h), host code only: the process-wide Lt handles, the
// algorithm cache and the matmul call. Not part of the kernel API.
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

// Queues the GEMM on `stream` as one cublasLtMatmul (bias fused as the epilogue) and returns true;
// returns false having queued nothing when cuBLASLt has no algorithm for these operands, so the
// caller can run another route. The first call per shape asks cuBLASLt's heuristic; its answer is
// cached per (device, shape, leading dimensions, transposition, bias, pointer alignments).
absl::StatusOr<bool> LtGemmBf16(const Bf16GemmOperands& g, cudaStream_t stream);

}  // namespace reel::kernels::cuda::internal
