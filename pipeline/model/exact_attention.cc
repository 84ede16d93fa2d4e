#include "pipeline/model/exact_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// One window: dense softmax or the SLA tiles, every key allowed.
absl::StatusOr<Tensor> WindowAttention(const DitConfig& c, const Tensor& q, const Tensor& k,
                                       const Tensor& v, int64_t block_tokens,
                                       ExactAttentionOutput& stats) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const int64_t heads = c.num_heads;
  if (c.attention == AttentionKind::kSoftmax) {
    return ops::FlashAttention(q, k, v, nullptr, heads, scale, ops::AttentionBlocks{});
  }
  ops::SparseAttentionOptions options;
  options.tile_q = EffectiveTile(c.sla_tile_q, block_tokens);
  options.tile_k = EffectiveTile(c.sla_tile_k, block_tokens);
  // The kernel keeps kernels::cpu::CriticalTileCount(topk, tiles) tiles: the reference's rule.
  options.topk = c.sla_topk;
  ops::SparseAttentionStats s;
  REEL_ASSIGN_OR_RETURN(Tensor out, ops::BlockSparseAttention(q, k, v, heads, scale,
                                                              ops::AttentionBlocks{}, options, &s));
  stats.tiles_computed += s.tiles_computed;
  stats.tiles_allowed += s.tiles_allowed;
  return out;
}

}  // namespace

int64_t EffectiveTile(int64_t tile, int64_t block_tokens) {
  if (block_tokens <= 0) return tile;
  for (int64_t t = std::min(tile, block_tokens); t > 1; --t) {
    if (block_tokens % t == 0) return t;
  }
  return 1;
}

absl::StatusOr<ExactAttentionOutput> ExactSelfAttention(const DitConfig& c,
                                                        const ExactAttentionInput& in) {
  ExactAttentionOutput result;
  const Tensor& q = *in.q;
  const Tensor& k = *in.k;
  const Tensor& v = *in.v;
  const int64_t rows = q.dim(0);
  const bool has_past = in.past_k != nullptr && in.past_k->defined() && in.past_k->dim(0) > 0;
  if (in.block_tokens <= 0) {
    if (has_past) return absl::InvalidArgumentError("a bidirectional call has no earlier blocks");
    REEL_ASSIGN_OR_RETURN(result.out, WindowAttention(c, q, k, v, 0, result));
    return result;
  }
  const int64_t bt = in.block_tokens;
  const int64_t past = has_past ? in.past_k->dim(0) : 0;
  Tensor all_k = k, all_v = v;
  if (has_past) {
    REEL_ASSIGN_OR_RETURN(all_k, ops::Concat({*in.past_k, k}, 0));
    REEL_ASSIGN_OR_RETURN(all_v, ops::Concat({*in.past_v, v}, 0));
  }
  const int window = c.attention_window;
  std::vector<Tensor> outs;
  for (int64_t s = 0; s < rows; s += bt) {
    const int64_t e = std::min(rows, s + bt);
    const int64_t first = window == 0 ? 0 : std::max<int64_t>(0, past + s - (window - 1) * bt);
    REEL_ASSIGN_OR_RETURN(Tensor qb, q.Slice(0, s, e));
    REEL_ASSIGN_OR_RETURN(Tensor kb, all_k.Slice(0, first, past + e));
    REEL_ASSIGN_OR_RETURN(Tensor vb, all_v.Slice(0, first, past + e));
    REEL_ASSIGN_OR_RETURN(Tensor o, WindowAttention(c, qb, kb, vb, bt, result));
    outs.push_back(std::move(o));
  }
  REEL_ASSIGN_OR_RETURN(result.out,
                        outs.size() == 1 ? absl::StatusOr<Tensor>(outs[0]) : ops::Concat(outs, 0));
  const int64_t total = all_k.dim(0);
  const int64_t keep_from = window == 0 ? 0 : std::max<int64_t>(0, total - (window - 1) * bt);
  // Copies: the kept rows must not pin this call's whole K/V buffers.
  REEL_ASSIGN_OR_RETURN(result.kept_k, all_k.Slice(0, keep_from, total)->Clone());
  REEL_ASSIGN_OR_RETURN(result.kept_v, all_v.Slice(0, keep_from, total)->Clone());
  return result;
}

}  // namespace reel
