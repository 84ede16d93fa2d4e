#include "kernels/cpu/linear_attention.h"

#include <cblas.h>

#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// out_h /= (q_h . ksum_h + eps) for every head of one token. The normalizer uses the un-rotated q
// and k (SANA-Video: RoPE only inside the kv product, so the denominator stays positive under ReLU).
REEL_CPU_MULTIVERSION void NormalizeRow(const float* q, const float* ksum, int64_t heads, int64_t d,
                                        float eps, float* out) {
  for (int64_t h = 0; h < heads; ++h) {
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < d; ++j) dot += q[h * d + j] * ksum[h * d + j];
    const float inv = 1.0f / (dot + eps);
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) out[h * d + j] *= inv;
  }
}

}  // namespace

void LinearAttentionAccumulate(const float* k_rot, const float* k, const float* v, int64_t n,
                               int64_t heads, int64_t d, float* kv, float* ksum) {
  if (n <= 0) return;
  const int64_t width = heads * d;
  for (int64_t h = 0; h < heads; ++h) {
    // kv[h] (d x d, row = v index) += V_h^T K_rot_h.
    Gemm(true, false, d, d, n, 1.0f, v + h * d, width, k_rot + h * d, width, 1.0f, kv + h * d * d, d);
  }
  // ksum (all heads at once) += K^T 1: a GEMV sums the columns with BLAS's blocked accumulation.
  const std::vector<float> ones(n, 1.0f);
  cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(width), 1.0f,
              k, static_cast<blasint>(width), ones.data(), 1, 1.0f, ksum, 1);
}

void LinearAttentionApply(const float* q_rot, const float* q, const float* kv, const float* ksum,
                          int64_t n, int64_t heads, int64_t d, float eps, float* out) {
  if (n <= 0) return;
  const int64_t width = heads * d;
  for (int64_t h = 0; h < heads; ++h) {
    // out_h (n x d) = Q_rot_h kv[h]^T, i.e. out_n = kv[h] q_rot_n.
    Gemm(false, true, n, d, d, 1.0f, q_rot + h * d, width, kv + h * d * d, d, 0.0f, out + h * d,
         width);
  }
#pragma omp parallel for if (n * width >= kParallelMinWork && n > 1)
  for (int64_t r = 0; r < n; ++r) NormalizeRow(q + r * width, ksum, heads, d, eps, out + r * width);
}

}  // namespace reel::kernels::cpu
