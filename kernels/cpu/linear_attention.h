#pragma once
// ReLU linear attention (SANA-Video): heads packed in columns, f32 throughout.
#include <cstdint>

namespace reel::kernels::cpu {

// Adds n tokens' contribution to the state: kv[h] += sum_m v_m k_rot_m^T (d x d, row = v index),
// ksum[h] += sum_m k_m. k_rot/k/v are (n, heads*d); kv (heads, d, d); ksum (heads, d).
void LinearAttentionAccumulate(const float* k_rot, const float* k, const float* v, int64_t n,
                               int64_t heads, int64_t d, float* kv, float* ksum);

// out_n = kv[h] q_rot_n / (q_n . ksum[h] + eps) for n tokens; q_rot/q/out (n, heads*d).
void LinearAttentionApply(const float* q_rot, const float* q, const float* kv, const float* ksum,
                          int64_t n, int64_t heads, int64_t d, float eps, float* out);

}  // namespace reel::kernels::cpu
