#pragma once
// ReLU linear attention (SANA-Video) on the GPU, the contract of kernels/cpu/linear_attention.h:
// heads packed in columns, f32 throughout, device pointers. The d x d products run as cuBLAS GEMMs
// batched over heads (a head is a d-wide column block, so the batch stride is d).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// Adds n tokens' contribution to the state: kv[h] += sum_m v_m k_rot_m^T (d x d, row = v index),
// ksum[h] += sum_m k_m. k_rot/k/v are (n, heads*d); kv (heads, d, d); ksum (heads, d).
absl::Status LinearAttentionAccumulate(const float* k_rot, const float* k, const float* v,
                                       int64_t n, int64_t heads, int64_t d, float* kv, float* ksum,
                                       cublasHandle_t cublas, cudaStream_t stream);

// out_n = kv[h] q_rot_n / (q_n . ksum[h] + eps) for n tokens; q_rot/q/out (n, heads*d). out must
// not overlap q_rot or q.
absl::Status LinearAttentionApply(const float* q_rot, const float* q, const float* kv,
                                  const float* ksum, int64_t n, int64_t heads, int64_t d, float eps,
                                  float* out, cublasHandle_t cublas, cudaStream_t stream);

}  // namespace reel::kernels::cuda
