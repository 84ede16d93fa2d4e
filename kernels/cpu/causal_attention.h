#pragma once
#include <cstdint>

namespace reel::kernels::cpu {

// Causal softmax self-attention as decoder LMs compute it (Gemma-2: transformers' eager attention),
// heads packed in columns (token-major, head-major inside a token):
//   q (n, heads*d), k/v (n, kv_heads*d), out (n, heads*d); query head h reads kv head
//   h / (heads / kv_heads) (grouped-query attention; heads % kv_heads == 0).
//   logit(i, j) = scale * q_i·k_j, then softcap * tanh(logit / softcap) when softcap > 0.
//   Query i attends key j iff j <= i, j > i - window (window 0 = unlimited) and key_mask[j] != 0
//   (key_mask null = all keys valid).
// A query with no key left gets the mean of all n value rows: transformers adds finfo.min to every
// masked logit, so such a row's logits are all equal and its softmax is uniform over all n keys.
// That only happens to padded queries (their rows are masked downstream), but it keeps the output
// defined and equal to the official one.
void CausalSoftmaxAttention(const float* q, const float* k, const float* v, const float* key_mask,
                            int64_t n, int64_t heads, int64_t kv_heads, int64_t d, int64_t window,
                            float scale, float softcap, float* out);

}  // namespace reel::kernels::cpu
