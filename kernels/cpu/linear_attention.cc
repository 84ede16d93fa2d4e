#include "kernels/cpu/linear_attention.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// ksum_h += sum_m k[m, h]: summed in double so long token streams do not lose low-order bits.
REEL_CPU_MULTIVERSION void AddColumnSums(const float* k, int64_t n, int64_t width, int64_t d,
                                         double* acc) {
  for (int64_t m = 0; m < n; ++m) {
    const float* row = k + m * width;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) acc[j] += row[j];
  }
}

// out_h /= (q_h . ksum_h + eps) for `rows` tokens of one head. The normalizer uses the un-rotated q
// and k (SANA-Video: RoPE only inside the kv product, so the denominator stays positive under
// ReLU).
REEL_CPU_MULTIVERSION void NormalizeHead(const float* q, const float* ksum, int64_t rows,
                                         int64_t width, int64_t d, float eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* qr = q + r * width;
    float* o = out + r * width;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < d; ++j) dot += qr[j] * ksum[j];
    const float inv = 1.0f / (dot + eps);
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) o[j] *= inv;
  }
}

}  // namespace

void LinearAttentionAccumulate(const float* k_rot, const float* k, const float* v, int64_t n,
                               int64_t heads, int64_t d, float* kv, float* ksum) {
  if (n <= 0) return;
  const int64_t width = heads * d;
  // One head per task with oneDNN on the calling thread (it uses OpenMP, so it does not nest
  // threads inside the region); a single head instead gets the whole threaded GEMM.
  const bool parallel = heads > 1 && n * width * d >= kParallelMinWork;
#pragma omp parallel for schedule(dynamic) if (parallel)
  for (int64_t h = 0; h < heads; ++h) {
    // kv[h] (d x d, row = v index) += V_h^T K_rot_h.
    GemmWith(GemmBackend::kOneDnn, true, false, d, d, n, 1.0f, v + h * d, width, k_rot + h * d,
             width, 1.0f, kv + h * d * d, d);
    std::vector<double> acc(d, 0.0);
    AddColumnSums(k + h * d, n, width, d, acc.data());
    for (int64_t j = 0; j < d; ++j) ksum[h * d + j] += static_cast<float>(acc[j]);
  }
}

void LinearAttentionApply(const float* q_rot, const float* q, const float* kv, const float* ksum,
                          int64_t n, int64_t heads, int64_t d, float eps, float* out) {
  if (n <= 0) return;
  const int64_t width = heads * d;
  // Tasks are (head, token block); the block's output is normalized while it is still in cache.
  constexpr int64_t kBlock = 512;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const int64_t tasks = heads * blocks;
#pragma omp parallel for schedule(dynamic) if (tasks > 1 && n * width * d >= kParallelMinWork)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t h = task / blocks, r0 = (task % blocks) * kBlock;
    const int64_t rows = std::min(kBlock, n - r0);
    const int64_t off = r0 * width + h * d;
    // out_h = Q_rot_h kv[h]^T, i.e. out_n = kv[h] q_rot_n.
    GemmWith(GemmBackend::kOneDnn, false, true, rows, d, d, 1.0f, q_rot + off, width,
             kv + h * d * d, d, 0.0f, out + off, width);
    NormalizeHead(q + off, ksum + h * d, rows, width, d, eps, out + off);
  }
}

}  // namespace reel::kernels::cpu
