#pragma once
// Softmax and softmax attention on the GPU, the contract of kernels/cpu/softmax.h; device pointers.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// Row-wise softmax over `cols`; x and y may alias. Rows whose entries are all -inf give zeros.
absl::Status Softmax(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream);

// Scaled dot-product attention, heads packed in columns (token-major, head-major inside a token):
// q (nq, heads*d), k/v (nk, heads*d), out (nq, heads*d). key_mask (nk) of 0/1 or null: keys with 0
// are excluded exactly; a query with every key excluded gets zeros. out must not overlap q, k or v.
// Scores come from cuBLAS batched over heads, in chunks of queries whose (heads, chunk, nk) scores
// fit in kAttentionScratchBytes of stream-ordered scratch.
inline constexpr int64_t kAttentionScratchBytes = int64_t{256} << 20;
absl::Status SoftmaxAttention(const float* q, const float* k, const float* v, const float* key_mask,
                              int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                              float* out, cublasHandle_t cublas, cudaStream_t stream);

// The same with an explicit scratch budget (tests use a small one to exercise the chunking).
absl::Status SoftmaxAttentionWithScratch(const float* q, const float* k, const float* v,
                                         const float* key_mask, int64_t nq, int64_t nk,
                                         int64_t heads, int64_t d, float scale, float* out,
                                         int64_t scratch_bytes, cublasHandle_t cublas,
                                         cudaStream_t stream);

}  // namespace reel::kernels::cuda
