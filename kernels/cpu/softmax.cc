#include "kernels/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::ExpF;
using internal::kParallelMinWork;

// Softmax of one row scaled by `scale` first (softmax(scale * x)); all -inf gives zeros.
REEL_CPU_MULTIVERSION void SoftmaxRow(const float* x, float* y, int64_t cols, float scale) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, x[j] * scale);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(y, y + cols, 0.0f);
    return;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; ++j) {
    const float e = ExpF(x[j] * scale - mx);
    y[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) y[j] *= inv;
}

// Query rows per task: the score block (rows x keys) stays within ~256 KiB, i.e. in L2.
int64_t QueryBlock(int64_t nq, int64_t nk) {
  const int64_t rows = (int64_t{1} << 16) / std::max<int64_t>(nk, 1);
  return std::clamp<int64_t>(rows, 8, 256);
}

}  // namespace

void Softmax(const float* x, float* y, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) SoftmaxRow(x + r * cols, y + r * cols, cols, 1.0f);
}

void SoftmaxAttention(const float* q, const float* k, const float* v, const float* key_mask,
                      int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale, float* out) {
  const int64_t width = heads * d;
  // Masked keys are dropped before the products, so they contribute exactly nothing (even a NaN or
  // huge value in a padded key/value row cannot leak through 0 * x).
  std::vector<float> k_kept, v_kept;
  int64_t kept = nk;
  if (key_mask != nullptr) {
    kept = 0;
    for (int64_t j = 0; j < nk; ++j) kept += key_mask[j] != 0.0f;
    if (kept < nk) {
      k_kept.resize(kept * width);
      v_kept.resize(kept * width);
      int64_t row = 0;
      for (int64_t j = 0; j < nk; ++j) {
        if (key_mask[j] == 0.0f) continue;
        std::memcpy(&k_kept[row * width], k + j * width, width * sizeof(float));
        std::memcpy(&v_kept[row * width], v + j * width, width * sizeof(float));
        ++row;
      }
      k = k_kept.data();
      v = v_kept.data();
    }
  }
  if (kept == 0) {  // Every key excluded: the attention output is defined as zero.
    std::fill(out, out + nq * width, 0.0f);
    return;
  }
  // Tasks are (head, query block). Each runs both products with oneDNN on its own thread: oneDNN
  // uses OpenMP, so inside this region it stays on the calling thread, whereas OpenBLAS's own
  // pthread pool would oversubscribe the cores; and the small score block never leaves the thread's
  // cache.
  const int64_t block = std::min(QueryBlock(nq, kept), nq);
  const int64_t blocks = (nq + block - 1) / block;
  const int64_t tasks = heads * blocks;
  const bool parallel = tasks > 1 && nq * kept * width >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    std::vector<float> scores(block * kept);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t h = task / blocks, q0 = (task % blocks) * block;
      const int64_t rows = std::min(block, nq - q0);
      float* s = scores.data();
      // S = Q_h K_h^T (rows x kept), P = softmax(scale * S), O_h = P V_h.
      GemmWith(GemmBackend::kOneDnn, false, true, rows, kept, d, 1.0f, q + q0 * width + h * d,
               width, k + h * d, width, 0.0f, s, kept);
      for (int64_t r = 0; r < rows; ++r) SoftmaxRow(s + r * kept, s + r * kept, kept, scale);
      GemmWith(GemmBackend::kOneDnn, false, false, rows, d, kept, 1.0f, s, kept, v + h * d, width,
               0.0f, out + q0 * width + h * d, width);
    }
  }
}

}  // namespace reel::kernels::cpu
