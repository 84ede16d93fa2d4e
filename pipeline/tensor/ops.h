#pragma once
// Tensor-level ops: check shapes/dtypes/devices, then dispatch to kernels/cpu (or kernels/cuda).
// Compute is f32; 16-bit tensors are converted with Cast first. Outputs come from `alloc`
// (nullptr: the CPU heap), so a forward pass can run entirely inside an Arena.
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/sparse_attention.h"
#include "pipeline/tensor/tensor.h"

namespace reel::ops {

using kernels::cpu::Activation;
using kernels::cpu::BinaryOp;
// Declared in kernels/cpu/sparse_attention.h (raw kernels share them).
using kernels::cpu::AttentionBlocks;
using kernels::cpu::SparseAttentionOptions;
using kernels::cpu::SparseAttentionStats;

// y = x · wᵀ + b over the last dim of x: x (..., in), w (out, in), bias (out) or null → (..., out).
// w may be bf16 (a mapped checkpoint weight): widened 256 rows at a time, never copied whole.
absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& w, const Tensor* bias,
                              Allocator* alloc = nullptr);
// (m, k) x (k, n), or batched (b, m, k) x (b, k, n), with optional transposes of the last two dims.
absl::StatusOr<Tensor> Matmul(const Tensor& a, const Tensor& b, bool trans_a = false,
                              bool trans_b = false, Allocator* alloc = nullptr);

// Broadcasting element-wise ops (NumPy rules).
absl::StatusOr<Tensor> Binary(BinaryOp op, const Tensor& a, const Tensor& b,
                              Allocator* alloc = nullptr);
inline absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b, Allocator* alloc = nullptr) {
  return Binary(BinaryOp::kAdd, a, b, alloc);
}
inline absl::StatusOr<Tensor> Sub(const Tensor& a, const Tensor& b, Allocator* alloc = nullptr) {
  return Binary(BinaryOp::kSub, a, b, alloc);
}
inline absl::StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b, Allocator* alloc = nullptr) {
  return Binary(BinaryOp::kMul, a, b, alloc);
}
// dst (contiguous) op= b, b broadcast to dst's shape.
absl::Status BinaryInPlace(BinaryOp op, Tensor& dst, const Tensor& b);
// y = alpha * x + beta * y, same shapes, y contiguous.
absl::Status Axpby(float alpha, const Tensor& x, float beta, Tensor& y);
// Σ|a − b| and Σ|b| (same shapes), in double: a relative L1 distance is diff / ref.
struct AbsDiffSums {
  double diff = 0.0;
  double ref = 0.0;
};
absl::StatusOr<AbsDiffSums> SumAbsDiff(const Tensor& a, const Tensor& b);

absl::StatusOr<Tensor> Activate(const Tensor& x, Activation act, Allocator* alloc = nullptr);
// x (..., 2*half) → (..., half): value * silu(gate).
absl::StatusOr<Tensor> SiluGate(const Tensor& x, Allocator* alloc = nullptr);

// Over the last dim. gamma/beta/weight may be null.
absl::StatusOr<Tensor> LayerNorm(const Tensor& x, float eps, const Tensor* gamma,
                                 const Tensor* beta, Allocator* alloc = nullptr);
absl::StatusOr<Tensor> RmsNorm(const Tensor& x, float eps, const Tensor* weight,
                               Allocator* alloc = nullptr);
// LN(x)·(1+scale)+shift; x (rows, D); shift/scale (D) or (rows, D).
absl::StatusOr<Tensor> LayerNormModulate(const Tensor& x, float eps, const Tensor& shift,
                                         const Tensor& scale, Allocator* alloc = nullptr);

absl::StatusOr<Tensor> Softmax(const Tensor& x, Allocator* alloc = nullptr);
// q (nq, heads*d), k/v (nk, heads*d), key_mask (nk) of 0/1 or null → (nq, heads*d).
absl::StatusOr<Tensor> SoftmaxAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor* key_mask, int64_t heads, float scale,
                                        Allocator* alloc = nullptr);

// Tiled flash-style softmax attention (online softmax, never an nq x nk matrix):
// softmax(q kT * scale) v over the keys allowed by `blocks` and key_mask (nk 0/1 or null); q (nq,
// heads*d), k/v (nk, heads*d) → (nq, heads*d). A query row with no allowed key gets 0.
absl::StatusOr<Tensor> FlashAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                      const Tensor* key_mask, int64_t heads, float scale,
                                      const AttentionBlocks& blocks, Allocator* alloc = nullptr);

// SLA's sparse branch (thu-ml/SLA): per head, the block map (mean-pooled q per query tile . mean-
// pooled smooth-K per key tile, smooth-K = k minus the per-head mean over all keys; a partial last
// tile pools over its true row count; key tiles are cut from key row 0), keeping the top
// n = clamp(int(topk * allowed), 1, allowed) of the key tiles the block rule allows (ties: the
// lower tile), then exact softmax over the selected tiles only, renormalized over them as the
// official kernel; the block rule applies per token inside tiles. topk >= 1 == FlashAttention with
// the same blocks. A row that sees no key in its selected tiles gets 0.
absl::StatusOr<Tensor> BlockSparseAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                            int64_t heads, float scale,
                                            const AttentionBlocks& blocks,
                                            const SparseAttentionOptions& options,
                                            SparseAttentionStats* stats = nullptr,
                                            Allocator* alloc = nullptr);

// The whole SLA op (SLA-1 formulation, no proj_l) for kernel-level invariants and benchmarks:
// O = O_s + O_l, O_s as BlockSparseAttention (same block map), O_l = ReLU linear attention over the
// allowed keys of the NON-selected tiles, phi(q) S / (phi(q) . z + 1e-6), by the subtraction trick.
// n = all tiles: O == FlashAttention (O_l = 0). topk == 0 selects no tile (the n >= 1 clamp holds
// only for topk > 0): O == ReLU linear attention over all allowed keys.
absl::StatusOr<Tensor> SparseLinearAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             int64_t heads, float scale,
                                             const AttentionBlocks& blocks,
                                             const SparseAttentionOptions& options,
                                             SparseAttentionStats* stats = nullptr,
                                             Allocator* alloc = nullptr);

// The tile map both ops above use: at_least_one is the n >= 1 clamp (BlockSparseAttention keeps it;
// SparseLinearAttention keeps it for topk > 0 only).
struct TileMap {
  int64_t heads = 0, q_tiles = 0, k_tiles = 0;
  std::vector<uint8_t> classes;  // (heads, q_tiles, k_tiles) of kernels::cpu::TileClass
  uint8_t at(int64_t h, int64_t qt, int64_t kt) const {
    return classes[(h * q_tiles + qt) * k_tiles + kt];
  }
};
absl::StatusOr<TileMap> SparseTileMap(const Tensor& q, const Tensor& k, int64_t heads,
                                      const AttentionBlocks& blocks,
                                      const SparseAttentionOptions& options, bool at_least_one);

// x (images, h, w, c) channels-last; weight (c, 1, 3, 3) or (c, 3, 3); bias (c) or null.
absl::StatusOr<Tensor> DepthwiseConv2d3x3(const Tensor& x, const Tensor& weight, const Tensor* bias,
                                          Allocator* alloc = nullptr);
// x (frames, spatial, cin); history (h, spatial, cin) or undefined; weight (cout, cin, 3[, 1]).
// pad_front = 2: causal, 1: centered. → (frames, spatial, cout). weight may be bf16 (widened for
// the call).
absl::StatusOr<Tensor> TemporalConv3(const Tensor& x, const Tensor& history, const Tensor& weight,
                                     int pad_front, Allocator* alloc = nullptr);

// x (rows, heads*d); cos/sin (rows, d/2).
absl::StatusOr<Tensor> RopeApply(const Tensor& x, const Tensor& cos, const Tensor& sin,
                                 int64_t heads, Allocator* alloc = nullptr);
// The rotate-half convention (column j pairs with j + d/2; transformers' Llama/Gemma).
absl::StatusOr<Tensor> RopeApplyHalf(const Tensor& x, const Tensor& cos, const Tensor& sin,
                                     int64_t heads, Allocator* alloc = nullptr);

// Decoder self-attention (kernels/cpu/causal_attention.h): q (n, heads*d), k/v (n, kv_heads*d),
// key_mask (n) of 0/1 or null → (n, heads*d).
struct CausalAttentionParams {
  int64_t heads = 1;
  int64_t kv_heads = 1;
  int64_t window = 0;    // keys j > i - window; 0 = unlimited
  float scale = 1.0f;    // on q·k
  float softcap = 0.0f;  // cap·tanh(logit/cap) when > 0
};
absl::StatusOr<Tensor> CausalSoftmaxAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const Tensor* key_mask,
                                              const CausalAttentionParams& params,
                                              Allocator* alloc = nullptr);

// kv (heads, d, d) and ksum (heads, d) are accumulated in place.
absl::Status LinearAttentionAccumulate(const Tensor& k_rot, const Tensor& k, const Tensor& v,
                                       int64_t heads, Tensor& kv, Tensor& ksum);
absl::StatusOr<Tensor> LinearAttentionApply(const Tensor& q_rot, const Tensor& q, const Tensor& kv,
                                            const Tensor& ksum, int64_t heads, float eps,
                                            Allocator* alloc = nullptr);

// Joins along `dim`; all other dims must agree.
absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> parts, int dim, Allocator* alloc = nullptr);
// n equal views along `dim`.
absl::StatusOr<std::vector<Tensor>> Chunk(const Tensor& x, int n, int dim);
absl::StatusOr<Tensor> Cast(const Tensor& x, DType dtype, Allocator* alloc = nullptr);
// Copies src into dst (same shape, any strides, same dtype).
absl::Status Copy(const Tensor& src, Tensor& dst);

}  // namespace reel::ops
