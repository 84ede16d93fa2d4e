#include <utility>

#include "kernels/cuda/gemm.h"
#include "kernels/cuda/internal.cuh"
#include "kernels/cuda/softmax.h"

namespace reel::kernels::cuda {
namespace {

using internal::BlockMax;
using internal::BlockSum;
using internal::kThreads;
using internal::kWarp;

constexpr int64_t kMaxRowBlocks = 65535;

unsigned RowBlocks(int64_t rows) { return static_cast<unsigned>(std::min(rows, kMaxRowBlocks)); }

// One block per row: max, sum of exp(x - max), then the normalized values. A row with no finite
// maximum (all -inf, or every key masked) is written as zeros. key_mask (cols) or null: entries
// whose mask is 0 count as -inf. Each element is read and written by the same thread after the
// reductions, so x == y is safe.
__global__ void SoftmaxKernel(const float* x, float* y, int64_t rows, int64_t cols,
                              const float* key_mask) {
  __shared__ float scratch[kWarp + 1];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      if (key_mask == nullptr || key_mask[c] != 0.0f) m = fmaxf(m, xr[c]);
    }
    m = BlockMax(m, scratch);
    if (m == -INFINITY) {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = 0.0f;
      continue;
    }
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      if (key_mask == nullptr || key_mask[c] != 0.0f) sum += expf(xr[c] - m);
    }
    const float inv_sum = 1.0f / BlockSum(sum, scratch);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const bool keep = key_mask == nullptr || key_mask[c] != 0.0f;
      yr[c] = keep ? expf(xr[c] - m) * inv_sum : 0.0f;
    }
  }
}

// Copies v (nk, width) with the rows of masked keys zeroed: their probabilities are 0, and 0 * 0
// keeps a NaN or inf in a padded value row from leaking into the output (0 * inf is NaN).
__global__ void ZeroMaskedRowsKernel(const float* v, const float* key_mask, int64_t nk,
                                     int64_t width, float* out) {
  const int64_t total = nk * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = key_mask[i / width] != 0.0f ? v[i] : 0.0f;
  }
}

}  // namespace

absl::Status Softmax(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("Softmax", {rows, cols}));
  if (rows == 0 || cols == 0) return absl::OkStatus();
  SoftmaxKernel<<<RowBlocks(rows), kThreads, 0, stream>>>(x, y, rows, cols, nullptr);
  return internal::LaunchStatus("Softmax");
}

absl::Status SoftmaxAttentionWithScratch(const float* q, const float* k, const float* v,
                                         const float* key_mask, int64_t nq, int64_t nk,
                                         int64_t heads, int64_t d, float scale, float* out,
                                         int64_t scratch_bytes, cublasHandle_t cublas,
                                         cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("SoftmaxAttention", {nq, nk, heads, d}));
  if (nq == 0 || heads == 0 || d == 0) return absl::OkStatus();
  const int64_t width = heads * d;
  if (nk == 0) {
    // No keys: every query attends to nothing, like a fully masked row.
    return FromCudaError(
        cudaMemsetAsync(out, 0, static_cast<size_t>(nq * width) * sizeof(float), stream),
        "SoftmaxAttention: cudaMemsetAsync");
  }
  const int64_t row_bytes = heads * nk * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = std::clamp<int64_t>(scratch_bytes / row_bytes, 1, nq);
  absl::StatusOr<StreamBuffer> scores =
      StreamBuffer::Allocate(static_cast<size_t>(chunk * row_bytes), stream);
  if (!scores.ok()) return scores.status();
  float* s = scores->as<float>();
  // Masked keys must contribute exactly nothing. Their score columns are skipped by the softmax (a
  // NaN there is never read) and their value rows are zeroed, so P V sees 0 * 0 for them.
  StreamBuffer v_kept;
  if (key_mask != nullptr) {
    absl::StatusOr<StreamBuffer> buffer =
        StreamBuffer::Allocate(static_cast<size_t>(nk * width) * sizeof(float), stream);
    if (!buffer.ok()) return buffer.status();
    v_kept = std::move(*buffer);
    ZeroMaskedRowsKernel<<<internal::BlocksFor(nk * width), kThreads, 0, stream>>>(
        v, key_mask, nk, width, v_kept.as<float>());
    REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("SoftmaxAttention mask values"));
    v = v_kept.as<float>();
  }
  for (int64_t q0 = 0; q0 < nq; q0 += chunk) {
    const int64_t rows = std::min(chunk, nq - q0);
    // Head h: S_h (rows x nk) = scale * Q_h K_h^T; Q_h, K_h are d-wide column blocks at h*d.
    REEL_CUDA_RETURN_IF_ERROR(GemmBatched(false, true, heads, rows, nk, d, scale, q + q0 * width,
                                          width, d, k, width, d, 0.0f, s, nk, rows * nk, cublas,
                                          stream));
    SoftmaxKernel<<<RowBlocks(heads * rows), kThreads, 0, stream>>>(s, s, heads * rows, nk,
                                                                    key_mask);
    REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("SoftmaxAttention softmax"));
    // out_h (rows x d) = P_h V_h, written into head h's column block.
    REEL_CUDA_RETURN_IF_ERROR(GemmBatched(false, false, heads, rows, d, nk, 1.0f, s, nk, rows * nk,
                                          v, width, d, 0.0f, out + q0 * width, width, d, cublas,
                                          stream));
  }
  return absl::OkStatus();
}

absl::Status SoftmaxAttention(const float* q, const float* k, const float* v, const float* key_mask,
                              int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                              float* out, cublasHandle_t cublas, cudaStream_t stream) {
  return SoftmaxAttentionWithScratch(q, k, v, key_mask, nq, nk, heads, d, scale, out,
                                     kAttentionScratchBytes, cublas, stream);
}

}  // namespace reel::kernels::cuda
