#pragma once
// Shared by the CUDA kernel sources only (not part of the kernel API): launch geometry, argument
// checks and block reductions.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/cuda/runtime.h"

#define REEL_CUDA_RETURN_IF_ERROR(expr)                    \
  do {                                                     \
    const ::absl::Status reel_cuda_status_ = (expr);       \
    if (!reel_cuda_status_.ok()) return reel_cuda_status_; \
  } while (0)

namespace reel::kernels::cuda::internal {

inline constexpr int kThreads = 256;  // threads per block for element-wise and per-row kernels
inline constexpr int kWarp = 32;
// Grid-stride loops cover the rest; this many blocks keeps every SM of an H100 busy.
inline constexpr int64_t kMaxBlocks = int64_t{1} << 16;

inline unsigned BlocksFor(int64_t work_items, int threads = kThreads) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((work_items + threads - 1) / threads, 1, kMaxBlocks));
}

// Checks the launch that was just queued (bad configuration, missing kernel image for this GPU).
inline absl::Status LaunchStatus(absl::string_view kernel) {
  return FromCudaError(cudaGetLastError(), absl::StrCat(kernel, " kernel launch"));
}

inline absl::Status CheckSizes(absl::string_view op, std::initializer_list<int64_t> sizes) {
  for (const int64_t s : sizes) {
    if (s < 0) return absl::InvalidArgumentError(absl::StrCat(op, ": negative size ", s));
  }
  return absl::OkStatus();
}

inline absl::Status CheckNotNull(absl::string_view op, absl::string_view arg, const void* p) {
  if (p == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": ", arg, " is null"));
  return absl::OkStatus();
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// Block-wide reductions for blockDim.x a multiple of 32 (<= 1024). `scratch` holds kWarp + 1 floats
// of shared memory; every thread of the block must call and gets the result. Safe to call back to
// back with the same scratch (the leading barrier keeps a new call from overwriting a result still
// read).
template <bool kMax>
__device__ __forceinline__ float BlockReduce(float v, float* scratch) {
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = kMax ? WarpMax(v) : WarpSum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const float identity = kMax ? -INFINITY : 0.0f;
    float w = lane < warps ? scratch[lane] : identity;
    w = kMax ? WarpMax(w) : WarpSum(w);
    if (lane == 0) scratch[kWarp] = w;
  }
  __syncthreads();
  return scratch[kWarp];
}

__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  return BlockReduce<false>(v, scratch);
}
__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  return BlockReduce<true>(v, scratch);
}

}  // namespace reel::kernels::cuda::internal
