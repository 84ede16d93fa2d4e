#include "kernels/cpu/causal_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::ExpF;
using internal::kParallelMinWork;

constexpr int64_t kQueryBlock = 64;

// One row of scores over keys [k_lo, k_lo + cols): scale, cap, mask, softmax in place. Returns
// false when no key is allowed (the caller substitutes the uniform average).
bool MaskedSoftmaxRow(float* s, int64_t i, int64_t k_lo, int64_t cols, int64_t window,
                      const float* key_mask, float scale, float softcap) {
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  float mx = kMasked;
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t j = k_lo + c;
    const bool allowed =
        j <= i && (window <= 0 || j > i - window) && (key_mask == nullptr || key_mask[j] != 0.0f);
    if (!allowed) {
      s[c] = kMasked;
      continue;
    }
    float x = s[c] * scale;
    if (softcap > 0.0f) x = softcap * std::tanh(x / softcap);
    s[c] = x;
    mx = std::max(mx, x);
  }
  if (mx == kMasked) return false;
  float sum = 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    const float e = s[c] == kMasked ? 0.0f : ExpF(s[c] - mx);
    s[c] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t c = 0; c < cols; ++c) s[c] *= inv;
  return true;
}

}  // namespace

void CausalSoftmaxAttention(const float* q, const float* k, const float* v, const float* key_mask,
                            int64_t n, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                            float scale, float softcap, float* out) {
  if (n <= 0) return;
  const int64_t q_width = heads * d, kv_width = kv_heads * d, group = heads / kv_heads;
  // Mean of all value rows per kv head, for queries with no key (see the header).
  std::vector<double> mean_acc(kv_width, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < kv_width; ++c) mean_acc[c] += v[j * kv_width + c];
  }
  std::vector<float> v_mean(kv_width);
  for (int64_t c = 0; c < kv_width; ++c) v_mean[c] = static_cast<float>(mean_acc[c] / n);

  // Tasks are (head, query block); each block only reads the keys its queries can see (causal, and
  // the window), so the work is about half of a full attention.
  const int64_t blocks = (n + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = heads * blocks;
  const bool parallel = tasks > 1 && n * n * q_width / 2 >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t h = task / blocks, g = h / group;
      const int64_t q0 = (task % blocks) * kQueryBlock, rows = std::min(kQueryBlock, n - q0);
      const int64_t k_lo = window > 0 ? std::max<int64_t>(0, q0 - window + 1) : 0;
      const int64_t k_hi = q0 + rows;  // exclusive: causal
      const int64_t cols = k_hi - k_lo;
      scores.resize(rows * cols);
      float* s = scores.data();
      GemmWith(GemmBackend::kOneDnn, false, true, rows, cols, d, 1.0f, q + q0 * q_width + h * d,
               q_width, k + k_lo * kv_width + g * d, kv_width, 0.0f, s, cols);
      std::vector<int64_t> empty_rows;
      for (int64_t r = 0; r < rows; ++r) {
        if (!MaskedSoftmaxRow(s + r * cols, q0 + r, k_lo, cols, window, key_mask, scale, softcap)) {
          std::fill(s + r * cols, s + (r + 1) * cols, 0.0f);
          empty_rows.push_back(r);
        }
      }
      GemmWith(GemmBackend::kOneDnn, false, false, rows, d, cols, 1.0f, s, cols,
               v + k_lo * kv_width + g * d, kv_width, 0.0f, out + q0 * q_width + h * d, q_width);
      for (const int64_t r : empty_rows) {
        std::copy(v_mean.begin() + g * d, v_mean.begin() + (g + 1) * d,
                  out + (q0 + r) * q_width + h * d);
      }
    }
  }
}

}  // namespace reel::kernels::cpu
