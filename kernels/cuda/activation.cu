#include "kernels/cuda/activation.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// Full-precision libdevice functions (no fast-math intrinsics) so results stay within a few ulp of
// the CPU backend.
__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

template <Activation kAct>
__device__ __forceinline__ float Act(float x) {
  if constexpr (kAct == Activation::kRelu) return x < 0.0f ? 0.0f : x;  // NaN propagates (PyTorch).
  if constexpr (kAct == Activation::kSilu) return Silu(x);
  if constexpr (kAct == Activation::kGeluTanh) {
    // PyTorch gelu(approximate="tanh") written as 0.5 x (1 + tanh(u)) == x * sigmoid(2u): no
    // cancellation for large negative x (the CPU backend's form).
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
  }
  // PyTorch gelu(approximate="none"): 0.5 x erfc(-x/sqrt2) == 0.5 x (1 + erf(x/sqrt2)) without
  // cancellation for negative x.
  constexpr float kInvSqrt2 = 0.7071067811865476f;
  return 0.5f * x * erfcf(-x * kInvSqrt2);
}

template <Activation kAct>
__global__ void ActivateKernel(const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = Act<kAct>(x[i]);
  }
}

__global__ void SiluGateKernel(const float* x, float* y, int64_t rows, int64_t half) {
  const int64_t total = rows * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / half;
    const int64_t j = i - r * half;
    const float* row = x + r * 2 * half;
    y[i] = row[j] * Silu(row[half + j]);
  }
}

}  // namespace

absl::Status Activate(Activation act, const float* x, float* y, int64_t n, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("Activate", {n}));
  if (n == 0) return absl::OkStatus();
  const unsigned blocks = BlocksFor(n);
  switch (act) {
    case Activation::kRelu:
      ActivateKernel<Activation::kRelu><<<blocks, kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kSilu:
      ActivateKernel<Activation::kSilu><<<blocks, kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kGeluTanh:
      ActivateKernel<Activation::kGeluTanh><<<blocks, kThreads, 0, stream>>>(x, y, n);
      break;
    case Activation::kGeluErf:
      ActivateKernel<Activation::kGeluErf><<<blocks, kThreads, 0, stream>>>(x, y, n);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("Activate: unknown activation ", static_cast<int>(act)));
  }
  return internal::LaunchStatus("Activate");
}

absl::Status SiluGate(const float* x, float* y, int64_t rows, int64_t half, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("SiluGate", {rows, half}));
  if (rows == 0 || half == 0) return absl::OkStatus();
  const int64_t out_bytes = rows * half * static_cast<int64_t>(sizeof(float));
  const auto* xb = reinterpret_cast<const char*>(x);
  const auto* yb = reinterpret_cast<const char*>(y);
  const bool overlaps = yb < xb + 2 * out_bytes && xb < yb + out_bytes;
  if (!overlaps) {
    SiluGateKernel<<<BlocksFor(rows * half), kThreads, 0, stream>>>(x, y, rows, half);
    return internal::LaunchStatus("SiluGate");
  }
  // In-place narrowing (y == x is allowed, as on the CPU): threads of different rows would
  // overwrite inputs other threads still read, so the gate goes through scratch and is copied back.
  absl::StatusOr<StreamBuffer> tmp = StreamBuffer::Allocate(static_cast<size_t>(out_bytes), stream);
  if (!tmp.ok()) return tmp.status();
  SiluGateKernel<<<BlocksFor(rows * half), kThreads, 0, stream>>>(x, tmp->as<float>(), rows, half);
  REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("SiluGate"));
  return FromCudaError(cudaMemcpyAsync(y, tmp->data(), static_cast<size_t>(out_bytes),
                                       cudaMemcpyDeviceToDevice, stream),
                       "SiluGate: cudaMemcpyAsync");
}

}  // namespace reel::kernels::cuda
