#include <cstring>

#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// Shape and strides travel by value in the kernel's parameter space (no device copy needed).
struct StridedView {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t stride0[kMaxRank] = {};
  int64_t stride1[kMaxRank] = {};
};

// Offsets of the element with row-major linear index `i` (last dimension fastest) in both layouts.
__device__ __forceinline__ void Offsets(const StridedView& v, int64_t i, int64_t& off0,
                                        int64_t& off1) {
  off0 = 0;
  off1 = 0;
  for (int d = v.rank - 1; d >= 0; --d) {
    const int64_t coord = i % v.shape[d];
    i /= v.shape[d];
    off0 += coord * v.stride0[d];
    off1 += coord * v.stride1[d];
  }
}

template <BinaryOp kOp>
__device__ __forceinline__ float Apply(float a, float b) {
  if constexpr (kOp == BinaryOp::kAdd) return a + b;
  if constexpr (kOp == BinaryOp::kSub) return a - b;
  if constexpr (kOp == BinaryOp::kMul) return a * b;
  return a / b;
}

template <BinaryOp kOp>
__global__ void BinaryBroadcastKernel(StridedView v, int64_t total, const float* a, const float* b,
                                      float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t oa, ob;
    Offsets(v, i, oa, ob);
    out[i] = Apply<kOp>(a[oa], b[ob]);
  }
}

__global__ void AxpbyKernel(int64_t n, float alpha, const float* x, float beta, float* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    // beta == 0 does not read y (BLAS convention, as the CPU): NaN or garbage in y cannot leak.
    y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
  }
}

// Per-block partial sums in double, then one atomicAdd per block (sm_60+ has double atomics); the
// order of additions differs from the CPU's, which the double accumulator makes immaterial.
__global__ void AbsDiffSumsKernel(int64_t n, const float* a, const float* b, double* sums) {
  __shared__ double diff_part[kThreads];
  __shared__ double ref_part[kThreads];
  double diff = 0.0, ref = 0.0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    diff += fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    ref += fabs(static_cast<double>(b[i]));
  }
  diff_part[threadIdx.x] = diff;
  ref_part[threadIdx.x] = ref;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (static_cast<int>(threadIdx.x) < stride) {
      diff_part[threadIdx.x] += diff_part[threadIdx.x + stride];
      ref_part[threadIdx.x] += ref_part[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    atomicAdd(&sums[0], diff_part[0]);
    atomicAdd(&sums[1], ref_part[0]);
  }
}

// Copies elements of type T (a plain bit pattern of elem_bytes).
template <typename T>
__global__ void StridedCopyKernel(StridedView v, int64_t total, const T* src, T* dst) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t os, od;
    Offsets(v, i, os, od);
    dst[od] = src[os];
  }
}

// Any other element size: byte by byte, strides scaled to bytes.
__global__ void StridedCopyBytesKernel(StridedView v, int64_t total, int elem_bytes,
                                       const unsigned char* src, unsigned char* dst) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t os, od;
    Offsets(v, i, os, od);
    for (int b = 0; b < elem_bytes; ++b) dst[od * elem_bytes + b] = src[os * elem_bytes + b];
  }
}

// Validates shape/strides and fills the launch view. Size-1 dimensions are dropped and dimensions
// contiguous in both layouts merged (as the CPU backend does), so the common cases (same-shape
// tensors, a row broadcast over rows) cost one or two divisions per element instead of `rank`.
absl::Status MakeView(absl::string_view op, int rank, const int64_t* shape, const int64_t* strides0,
                      const int64_t* strides1, StridedView& v, int64_t& total) {
  if (rank < 0 || rank > kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": rank ", rank, " outside [0, ", kMaxRank, "]"));
  }
  total = 1;
  v.rank = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": negative dimension ", shape[d]));
    }
    total *= shape[d];
    if (shape[d] == 1) continue;
    const int last = v.rank - 1;
    if (last >= 0 && v.stride0[last] == strides0[d] * shape[d] &&
        v.stride1[last] == strides1[d] * shape[d]) {
      v.shape[last] *= shape[d];
      v.stride0[last] = strides0[d];
      v.stride1[last] = strides1[d];
    } else {
      v.shape[v.rank] = shape[d];
      v.stride0[v.rank] = strides0[d];
      v.stride1[v.rank] = strides1[d];
      ++v.rank;
    }
  }
  // rank 0 (a scalar, or all dimensions 1) is one element at offset 0: Offsets() loops zero times.
  return absl::OkStatus();
}

}  // namespace

absl::Status BinaryBroadcast(BinaryOp op, int rank, const int64_t* shape, const float* a,
                             const int64_t* a_strides, const float* b, const int64_t* b_strides,
                             float* out, cudaStream_t stream) {
  StridedView v;
  int64_t total = 0;
  REEL_CUDA_RETURN_IF_ERROR(
      MakeView("BinaryBroadcast", rank, shape, a_strides, b_strides, v, total));
  if (total == 0) return absl::OkStatus();
  const unsigned blocks = BlocksFor(total);
  switch (op) {
    case BinaryOp::kAdd:
      BinaryBroadcastKernel<BinaryOp::kAdd><<<blocks, kThreads, 0, stream>>>(v, total, a, b, out);
      break;
    case BinaryOp::kSub:
      BinaryBroadcastKernel<BinaryOp::kSub><<<blocks, kThreads, 0, stream>>>(v, total, a, b, out);
      break;
    case BinaryOp::kMul:
      BinaryBroadcastKernel<BinaryOp::kMul><<<blocks, kThreads, 0, stream>>>(v, total, a, b, out);
      break;
    case BinaryOp::kDiv:
      BinaryBroadcastKernel<BinaryOp::kDiv><<<blocks, kThreads, 0, stream>>>(v, total, a, b, out);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("BinaryBroadcast: unknown op ", static_cast<int>(op)));
  }
  return internal::LaunchStatus("BinaryBroadcast");
}

absl::Status Axpby(int64_t n, float alpha, const float* x, float beta, float* y,
                   cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("Axpby", {n}));
  if (n == 0) return absl::OkStatus();
  AxpbyKernel<<<BlocksFor(n), kThreads, 0, stream>>>(n, alpha, x, beta, y);
  return internal::LaunchStatus("Axpby");
}

absl::Status AbsDiffSums(int64_t n, const float* a, const float* b, double* sum_abs_diff,
                         double* sum_abs_b, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("AbsDiffSums", {n}));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("AbsDiffSums", "sum_abs_diff", sum_abs_diff));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("AbsDiffSums", "sum_abs_b", sum_abs_b));
  absl::StatusOr<StreamBuffer> sums = StreamBuffer::Allocate(2 * sizeof(double), stream);
  if (!sums.ok()) return sums.status();
  REEL_CUDA_RETURN_IF_ERROR(FromCudaError(
      cudaMemsetAsync(sums->data(), 0, 2 * sizeof(double), stream), "AbsDiffSums: memset"));
  if (n > 0) {
    AbsDiffSumsKernel<<<std::min<unsigned>(BlocksFor(n), 1024), kThreads, 0, stream>>>(
        n, a, b, sums->as<double>());
    REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("AbsDiffSums"));
  }
  double host[2] = {0.0, 0.0};
  REEL_CUDA_RETURN_IF_ERROR(CopyToHost(host, sums->data(), sizeof(host), stream));
  *sum_abs_diff = host[0];
  *sum_abs_b = host[1];
  return absl::OkStatus();
}

absl::Status StridedCopy(int rank, const int64_t* shape, const void* src,
                         const int64_t* src_strides, void* dst, const int64_t* dst_strides,
                         int elem_bytes, cudaStream_t stream) {
  if (elem_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("StridedCopy: elem_bytes ", elem_bytes));
  }
  StridedView v;
  int64_t total = 0;
  REEL_CUDA_RETURN_IF_ERROR(
      MakeView("StridedCopy", rank, shape, src_strides, dst_strides, v, total));
  if (total == 0) return absl::OkStatus();
  const unsigned blocks = BlocksFor(total);
  // Typed copies need the pointers aligned to the element size (cudaMalloc gives 256 bytes).
  const auto aligned = [&](int bytes) {
    return reinterpret_cast<uintptr_t>(src) % bytes == 0 &&
           reinterpret_cast<uintptr_t>(dst) % bytes == 0;
  };
  switch (elem_bytes) {
    case 1:
      StridedCopyKernel<<<blocks, kThreads, 0, stream>>>(v, total, static_cast<const uint8_t*>(src),
                                                         static_cast<uint8_t*>(dst));
      return internal::LaunchStatus("StridedCopy");
    case 2:
      if (!aligned(2)) break;
      StridedCopyKernel<<<blocks, kThreads, 0, stream>>>(
          v, total, static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst));
      return internal::LaunchStatus("StridedCopy");
    case 4:
      if (!aligned(4)) break;
      StridedCopyKernel<<<blocks, kThreads, 0, stream>>>(
          v, total, static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst));
      return internal::LaunchStatus("StridedCopy");
    case 8:
      if (!aligned(8)) break;
      StridedCopyKernel<<<blocks, kThreads, 0, stream>>>(
          v, total, static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst));
      return internal::LaunchStatus("StridedCopy");
    default:
      break;
  }
  StridedCopyBytesKernel<<<blocks, kThreads, 0, stream>>>(v, total, elem_bytes,
                                                          static_cast<const unsigned char*>(src),
                                                          static_cast<unsigned char*>(dst));
  return internal::LaunchStatus("StridedCopy");
}

}  // namespace reel::kernels::cuda
