#pragma once
// cuBLAS and cuBLASLt, loaded on first use with dlopen instead of linked: libcublas + libcublasLt
// apply ~200 MB of relocations at load time, which every CPU-only run of `reel` paid in memory and
// start-up time without ever calling them. Only the functions the CUDA kernels use are resolved;
// their types come from the libraries' own declarations.
#include <cublasLt.h>
#include <cublas_v2.h>

#include "absl/status/statusor.h"

namespace reel::kernels::cuda {

struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2_64) sgemm = nullptr;
  decltype(&cublasSgemmStridedBatched_64) sgemm_strided_batched = nullptr;
  // The bf16 GEMM's fallback where cuBLASLt cannot run (gemm_bf16.cu).
  decltype(&cublasGemmEx_64) gemm_ex = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

// The process-wide table, loaded once (thread-safe). UNAVAILABLE names the library, or the symbol
// that is missing.
absl::StatusOr<const CublasApi*> Cublas();

// cuBLASLt: the matmul with epilogues and explicit algorithm choice behind the bf16 GEMM
// (gemm_bf16_lt.cc).
struct CublasLtApi {
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtMatmulDescCreate) matmul_desc_create = nullptr;
  decltype(&cublasLtMatmulDescDestroy) matmul_desc_destroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) matmul_desc_set_attribute = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) matrix_layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) matrix_layout_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) preference_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) preference_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) preference_set_attribute = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) algo_get_heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
};

// Likewise for libcublasLt.
absl::StatusOr<const CublasLtApi*> CublasLt();

}  // namespace reel::kernels::cuda
