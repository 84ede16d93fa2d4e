#pragma once
// cuBLAS, loaded on first use with dlopen instead of linked: libcublas + libcublasLt apply ~200 MB
// of relocations at load time, which every CPU-only run of `reel` paid in memory and start-up time
// without ever calling them. Only the functions the CUDA kernels use are resolved; their types come
// from cuBLAS's own declarations.
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
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

// The process-wide table, loaded once (thread-safe). UNAVAILABLE names the library, or the symbol
// that is missing.
absl::StatusOr<const CublasApi*> Cublas();

}  // namespace reel::kernels::cuda
