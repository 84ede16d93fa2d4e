#pragma once
// Private to pipeline/tensor (built only with the CUDA backend): the stream every op on a device is
// queued on and the cuBLAS handle of the calling thread. One stream per device keeps every op, copy
// and free in issue order without host synchronization: a buffer freed by one op (cudaFreeAsync on
// that stream) is reused by the next only after the earlier kernels reading it.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "absl/status/statusor.h"

namespace reel::cuda_context {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;  // the calling thread's, bound to `stream` by each kernel call
};

// Makes `device` current for the calling thread and returns its context (created on first use).
absl::StatusOr<Context> For(int device);

}  // namespace reel::cuda_context
