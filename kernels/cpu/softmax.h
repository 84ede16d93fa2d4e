#pragma once
#include <cstdint>

namespace reel::kernels::cpu {

// Row-wise softmax over `cols`; x and y may alias. Rows whose entries are all -inf give zeros.
void Softmax(const float* x, float* y, int64_t rows, int64_t cols);

// Scaled dot-product attention, heads packed in columns (token-major, head-major inside a token):
// q (nq, heads*d), k/v (nk, heads*d), out (nq, heads*d). key_mask (nk) of 0/1 or null: keys with 0 are
// excluded exactly. Uses GEMM for both products.
void SoftmaxAttention(const float* q, const float* k, const float* v, const float* key_mask,
                      int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale, float* out);

}  // namespace reel::kernels::cpu
