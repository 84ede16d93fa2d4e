#pragma once
// Shared by the CUDA benchmarks: exit on a failed Status, and CUDA-event timing.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/runtime.h"

namespace reel::bench {

// A benchmark has no caller to report to: print the Status and exit 1.
inline void Die(const absl::Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v) {
  Die(v.status());
  return std::move(*v);
}

// Milliseconds per call on `stream`: after one warm-up call, the best of `samples` timings of
// `calls` back-to-back calls each (several calls per sample hide the launch gaps of short ones).
template <typename Fn>
double TimeMs(cudaStream_t stream, int samples, int calls, Fn fn) {
  namespace cuda = kernels::cuda;
  cudaEvent_t start, stop;
  Die(cuda::FromCudaError(cudaEventCreate(&start), "cudaEventCreate"));
  Die(cuda::FromCudaError(cudaEventCreate(&stop), "cudaEventCreate"));
  fn();
  double best = 1e30;
  for (int sample = 0; sample < samples; ++sample) {
    Die(cuda::FromCudaError(cudaEventRecord(start, stream), "cudaEventRecord"));
    for (int i = 0; i < calls; ++i) fn();
    Die(cuda::FromCudaError(cudaEventRecord(stop, stream), "cudaEventRecord"));
    Die(cuda::FromCudaError(cudaEventSynchronize(stop), "cudaEventSynchronize"));
    float ms = 0.0f;
    Die(cuda::FromCudaError(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime"));
    best = std::min(best, static_cast<double>(ms) / calls);
  }
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  return best;
}

}  // namespace reel::bench
