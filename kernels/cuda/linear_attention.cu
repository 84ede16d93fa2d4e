#include "kernels/cuda/gemm.h"
#include "kernels/cuda/internal.cuh"
#include "kernels/cuda/linear_attention.h"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;
using internal::kWarp;
using internal::WarpSum;

// Column sums of an (n, cols) matrix added into sum[cols]. Block (32, 8): threadIdx.x picks a
// column (coalesced loads across a warp), threadIdx.y strides over rows; the 8 partial sums are
// combined in shared memory in a fixed order, so results are deterministic.
constexpr int kColSumRows = 8;

__global__ void ColumnSumAddKernel(const float* x, int64_t n, int64_t cols, float* sum) {
  __shared__ float partial[kColSumRows][kWarp];
  const int64_t col = blockIdx.x * int64_t{kWarp} + threadIdx.x;
  float acc = 0.0f;
  if (col < cols) {
    for (int64_t r = threadIdx.y; r < n; r += kColSumRows) acc += x[r * cols + col];
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    float total = 0.0f;
    for (int i = 0; i < kColSumRows; ++i) total += partial[i][threadIdx.x];
    sum[col] += total;
  }
}

// One warp per (token, head): den = q . ksum[h] + eps, then the head's d outputs are divided by it.
__global__ void NormalizeKernel(const float* q, const float* ksum, int64_t n, int64_t heads,
                                int64_t d, float eps, float* out) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_grid = int64_t{gridDim.x} * (blockDim.x / kWarp);
  for (int64_t w = blockIdx.x * int64_t{blockDim.x / kWarp} + threadIdx.x / kWarp; w < n * heads;
       w += warps_per_grid) {
    const int64_t h = w % heads;
    const float* qw = q + w * d;  // row-major (n, heads*d): token m, head h starts at (m*heads+h)*d
    const float* kw = ksum + h * d;
    float dot = 0.0f;
    for (int64_t j = lane; j < d; j += kWarp) dot += qw[j] * kw[j];
    const float inv = 1.0f / (WarpSum(dot) + eps);
    float* ow = out + w * d;
    for (int64_t j = lane; j < d; j += kWarp) ow[j] *= inv;
  }
}

}  // namespace

absl::Status LinearAttentionAccumulate(const float* k_rot, const float* k, const float* v,
                                       int64_t n, int64_t heads, int64_t d, float* kv, float* ksum,
                                       cublasHandle_t cublas, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("LinearAttentionAccumulate", {n, heads, d}));
  if (n == 0 || heads == 0 || d == 0) return absl::OkStatus();
  const int64_t width = heads * d;
  // kv[h] (d x d) += V_h^T K_rot_h, V_h and K_rot_h being (n x d) column blocks of row stride
  // width.
  REEL_CUDA_RETURN_IF_ERROR(GemmBatched(true, false, heads, d, d, n, 1.0f, v, width, d, k_rot,
                                        width, d, 1.0f, kv, d, d * d, cublas, stream));
  const unsigned blocks = static_cast<unsigned>((width + kWarp - 1) / kWarp);
  ColumnSumAddKernel<<<blocks, dim3(kWarp, kColSumRows), 0, stream>>>(k, n, width, ksum);
  return internal::LaunchStatus("LinearAttentionAccumulate ksum");
}

absl::Status LinearAttentionApply(const float* q_rot, const float* q, const float* kv,
                                  const float* ksum, int64_t n, int64_t heads, int64_t d, float eps,
                                  float* out, cublasHandle_t cublas, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("LinearAttentionApply", {n, heads, d}));
  if (n == 0 || heads == 0 || d == 0) return absl::OkStatus();
  const int64_t width = heads * d;
  // Numerator, head h: out_h (n x d) = Q_rot_h kv[h]^T.
  REEL_CUDA_RETURN_IF_ERROR(GemmBatched(false, true, heads, n, d, d, 1.0f, q_rot, width, d, kv, d,
                                        d * d, 0.0f, out, width, d, cublas, stream));
  NormalizeKernel<<<BlocksFor(n * heads * kWarp), kThreads, 0, stream>>>(q, ksum, n, heads, d, eps,
                                                                         out);
  return internal::LaunchStatus("LinearAttentionApply normalize");
}

}  // namespace reel::kernels::cuda
