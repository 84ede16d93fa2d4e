#include "pipeline/model/dit_block.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "pipeline/model/exact_attention.h"
#include "pipeline/model/sequence_parallel.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Rows of the modulation table (README: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp,
// gate_mlp).
enum ModRow { kShiftMsa = 0, kScaleMsa, kGateMsa, kShiftMlp, kScaleMlp, kGateMlp };

// (F', 1, D) view of one modulation row for every frame.
absl::StatusOr<Tensor> Row(const Tensor& mod, ModRow r) { return mod.Slice(1, r, r + 1); }

// LN(x)·(1+scale)+shift frame by frame; x (F', S, D) → (F'·S, D).
absl::StatusOr<Tensor> ModulatedNorm(const Tensor& x, const Tensor& mod, ModRow shift_row,
                                     float eps) {
  const int64_t frames = x.dim(0), s = x.dim(1), d = x.dim(2);
  REEL_ASSIGN_OR_RETURN(Tensor out, Tensor::EmptyOn(x.device(), {frames * s, d}));
  for (int64_t f = 0; f < frames; ++f) {
    REEL_ASSIGN_OR_RETURN(Tensor xf, x.Slice(0, f, f + 1));
    REEL_ASSIGN_OR_RETURN(Tensor mf, mod.Slice(0, f, f + 1));
    REEL_ASSIGN_OR_RETURN(Tensor shift, mf.Slice(1, shift_row, shift_row + 1));
    REEL_ASSIGN_OR_RETURN(Tensor scale, mf.Slice(1, shift_row + 1, shift_row + 2));
    REEL_ASSIGN_OR_RETURN(Tensor y, ops::LayerNormModulate(*xf.Reshape({s, d}), eps, shift, scale));
    REEL_ASSIGN_OR_RETURN(Tensor dst, out.Slice(0, f * s, (f + 1) * s));
    REEL_RETURN_IF_ERROR(ops::Copy(y, dst));
  }
  return out;
}

// x += gate ⊙ y, gate (F', 1, D) per frame, y (F'·S, D).
absl::Status GatedAdd(Tensor& x, const Tensor& y, const Tensor& gate) {
  REEL_ASSIGN_OR_RETURN(Tensor y3, y.Reshape(x.shape()));
  REEL_ASSIGN_OR_RETURN(Tensor gy, ops::Mul(y3, gate));
  return ops::BinaryInPlace(ops::BinaryOp::kAdd, x, gy);
}

// Rows [b·rows, (b+1)·rows) of a (branches·rows, D) tensor: one guidance branch.
absl::StatusOr<Tensor> Branch(const Tensor& t, int b, int64_t rows) {
  return t.Slice(0, b * rows, (b + 1) * rows);
}

// The linear attention (README "Forward" step 4) of normalized q, k and v, before to_out.
absl::StatusOr<Tensor> LinearBranch(const DitConfig& c, const Tensor& q_norm, const Tensor& k_norm,
                                    const Tensor& v, const RopeTables& rope, int64_t frames,
                                    int64_t spatial, int branches, const AttentionScope& scope) {
  const int64_t heads = c.num_heads, d = c.head_dim, rows = frames * spatial;
  // φ = ReLU before RoPE; RoPE only in the numerator (SANA-Video: the normalizer uses un-rotated q,
  // k).
  REEL_ASSIGN_OR_RETURN(Tensor q, ops::Activate(q_norm, ops::Activation::kRelu));
  REEL_ASSIGN_OR_RETURN(Tensor k, ops::Activate(k_norm, ops::Activation::kRelu));

  const int64_t group_frames = scope.causal_block_frames > 0 ? scope.causal_block_frames : frames;
  Communicator& comm = scope.parallel.communicator();
  struct BranchTensors {
    Tensor q, k, v, q_rot, k_rot, kv, ksum, part_kv, part_ksum;
    std::vector<Tensor> outs;
  };
  std::vector<BranchTensors> br(branches);
  for (int b = 0; b < branches; ++b) {
    BranchTensors& t = br[b];
    REEL_ASSIGN_OR_RETURN(t.q, Branch(q, b, rows));
    REEL_ASSIGN_OR_RETURN(t.k, Branch(k, b, rows));
    REEL_ASSIGN_OR_RETURN(t.v, Branch(v, b, rows));
    REEL_ASSIGN_OR_RETURN(t.q_rot, ops::RopeApply(t.q, rope.cos, rope.sin, heads));
    REEL_ASSIGN_OR_RETURN(t.k_rot, ops::RopeApply(t.k, rope.cos, rope.sin, heads));
    // Every branch starts from the same context (README: the state belongs to the video, not to a
    // guidance branch).
    if (scope.state != nullptr) {
      REEL_ASSIGN_OR_RETURN(t.kv, scope.state->kv.Clone());
      REEL_ASSIGN_OR_RETURN(t.ksum, scope.state->ksum.Clone());
    } else {
      REEL_ASSIGN_OR_RETURN(t.kv, Tensor::ZerosOn(q.device(), {heads, d, d}));
      REEL_ASSIGN_OR_RETURN(t.ksum, Tensor::ZerosOn(q.device(), {heads, d}));
    }
  }
  const bool by_blocks =
      scope.parallel.world_size() > 1 && scope.parallel.split == ParallelSplit::kBlocks;
  if (by_blocks) {
    // Temporal parallel prefill (one branch, one group, checked by the forward): the state seen by
    // this rank's block is the state plus every earlier rank's block sums plus its own — an
    // inclusive AllScan, with the incoming state folded in on rank 0 so that the additions happen
    // in the order of sequential absorption.
    BranchTensors& t = br[0];
    REEL_ASSIGN_OR_RETURN(t.part_kv, Tensor::ZerosOn(q.device(), {heads, d, d}));
    REEL_ASSIGN_OR_RETURN(t.part_ksum, Tensor::ZerosOn(q.device(), {heads, d}));
    REEL_RETURN_IF_ERROR(
        ops::LinearAttentionAccumulate(t.k_rot, t.k, t.v, heads, t.part_kv, t.part_ksum));
    if (scope.parallel.rank() == 0) {
      REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, t.part_kv, t.kv));
      REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, t.part_ksum, t.ksum));
    }
    REEL_RETURN_IF_ERROR(comm.AllScan({&t.part_kv, &t.part_ksum}));
    t.kv = t.part_kv;
    t.ksum = t.part_ksum;
    REEL_ASSIGN_OR_RETURN(Tensor o,
                          ops::LinearAttentionApply(t.q_rot, t.q, t.kv, t.ksum, heads, c.attn_eps));
    if (scope.update_state) {
      // Every rank keeps the state after the last rank's block.
      REEL_ASSIGN_OR_RETURN(Tensor kv, t.kv.Clone());
      REEL_ASSIGN_OR_RETURN(Tensor ksum, t.ksum.Clone());
      const int last = scope.parallel.world_size() - 1;
      REEL_RETURN_IF_ERROR(comm.Broadcast(kv, last));
      REEL_RETURN_IF_ERROR(comm.Broadcast(ksum, last));
      scope.state->kv = std::move(kv);
      scope.state->ksum = std::move(ksum);
    }
    return o;
  }
  for (int64_t f0 = 0; f0 < frames; f0 += group_frames) {
    const int64_t r0 = f0 * spatial, r1 = std::min(frames, f0 + group_frames) * spatial;
    // This rank's tokens' sums, reduced over the ranks that hold the other tokens of the same
    // frames (sequence parallelism: heads·d·(d+1) floats per layer and branch, whatever the
    // length), every guidance branch in one reduction (one round trip instead of one per branch).
    std::vector<Tensor*> parts;
    for (BranchTensors& t : br) {
      REEL_ASSIGN_OR_RETURN(t.part_kv, Tensor::ZerosOn(q.device(), {heads, d, d}));
      REEL_ASSIGN_OR_RETURN(t.part_ksum, Tensor::ZerosOn(q.device(), {heads, d}));
      REEL_RETURN_IF_ERROR(
          ops::LinearAttentionAccumulate(*t.k_rot.Slice(0, r0, r1), *t.k.Slice(0, r0, r1),
                                         *t.v.Slice(0, r0, r1), heads, t.part_kv, t.part_ksum));
      parts.push_back(&t.part_kv);
      parts.push_back(&t.part_ksum);
    }
    REEL_RETURN_IF_ERROR(comm.AllReduceSum(parts));
    for (BranchTensors& t : br) {
      REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, t.kv, t.part_kv));
      REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, t.ksum, t.part_ksum));
      REEL_ASSIGN_OR_RETURN(
          Tensor o, ops::LinearAttentionApply(*t.q_rot.Slice(0, r0, r1), *t.q.Slice(0, r0, r1),
                                              t.kv, t.ksum, heads, c.attn_eps));
      t.outs.push_back(std::move(o));
    }
  }
  if (scope.update_state) {  // one branch (checked by DitBlockForward)
    scope.state->kv = std::move(br[0].kv);
    scope.state->ksum = std::move(br[0].ksum);
  }
  std::vector<Tensor> outs;  // branch-major, as the rows of x
  for (BranchTensors& t : br) {
    for (Tensor& o : t.outs) outs.push_back(std::move(o));
  }
  return outs.size() == 1 ? absl::StatusOr<Tensor>(outs[0]) : ops::Concat(outs, 0);
}

// The exact branch (exact_attention.h) of every guidance branch, before to_out / proj_s. The
// window belongs to the video: every branch reads the same kept keys; a one-branch state-update
// pass replaces them.
absl::StatusOr<Tensor> ExactBranch(const DitConfig& c, const Tensor& q_norm, const Tensor& k_norm,
                                   const Tensor& v, const RopeTables& rope, int64_t frames,
                                   int64_t spatial, int branches, const AttentionScope& scope) {
  if (scope.parallel.world_size() > 1) {
    return absl::UnimplementedError(absl::StrCat(
        "attention '", AttentionKindName(c.attention),
        "' under sequence parallelism (more than one rank) is not supported yet: render with one "
        "rank"));
  }
  const int64_t rows = frames * spatial;
  // The call's blocks: block-causal groups, or the whole call when it is one block-AR block (it
  // carries a state) or bidirectional.
  int64_t block_tokens = 0;
  if (scope.causal_block_frames > 0) {
    block_tokens = scope.causal_block_frames * spatial;
  } else if (scope.state != nullptr) {
    block_tokens = rows;
  }
  const Tensor* past_k = scope.state != nullptr ? &scope.state->win_k : nullptr;
  const Tensor* past_v = scope.state != nullptr ? &scope.state->win_v : nullptr;
  std::vector<Tensor> outs;
  for (int b = 0; b < branches; ++b) {
    REEL_ASSIGN_OR_RETURN(Tensor qb, Branch(q_norm, b, rows));
    REEL_ASSIGN_OR_RETURN(Tensor kb, Branch(k_norm, b, rows));
    REEL_ASSIGN_OR_RETURN(Tensor vb, Branch(v, b, rows));
    REEL_ASSIGN_OR_RETURN(qb, ops::RopeApply(qb, rope.cos, rope.sin, c.num_heads));
    REEL_ASSIGN_OR_RETURN(kb, ops::RopeApply(kb, rope.cos, rope.sin, c.num_heads));
    ExactAttentionInput in{&qb, &kb, &vb, past_k, past_v, block_tokens};
    REEL_ASSIGN_OR_RETURN(ExactAttentionOutput o, ExactSelfAttention(c, in));
    if (scope.update_state) {  // one branch (checked by DitBlockForward)
      scope.state->win_k = std::move(o.kept_k);
      scope.state->win_v = std::move(o.kept_v);
    }
    outs.push_back(std::move(o.out));
  }
  return outs.size() == 1 ? absl::StatusOr<Tensor>(outs[0]) : ops::Concat(outs, 0);
}

// The layer's attention kind (README "Attention kinds"), through to_out.
absl::StatusOr<Tensor> SelfAttention(const DitBlockWeights& w, const DitConfig& c, const Tensor& n,
                                     const RopeTables& rope, int64_t frames, int64_t spatial,
                                     int branches, const AttentionScope& scope) {
  REEL_ASSIGN_OR_RETURN(Tensor q, ops::Linear(n, w.to_q, nullptr));
  REEL_ASSIGN_OR_RETURN(Tensor k, ops::Linear(n, w.to_k, nullptr));
  REEL_ASSIGN_OR_RETURN(Tensor v, ops::Linear(n, w.to_v, nullptr));
  REEL_ASSIGN_OR_RETURN(q, ops::RmsNorm(q, c.qk_norm_eps, &w.norm_q));
  REEL_ASSIGN_OR_RETURN(k, ops::RmsNorm(k, c.qk_norm_eps, &w.norm_k));
  Tensor mixed;
  if (c.attention != AttentionKind::kSoftmax) {
    REEL_ASSIGN_OR_RETURN(mixed, LinearBranch(c, q, k, v, rope, frames, spatial, branches, scope));
  }
  const bool exact = c.attention == AttentionKind::kSoftmax ||
                     (c.attention == AttentionKind::kSparseLinear && c.attention_window > 0);
  if (exact) {
    REEL_ASSIGN_OR_RETURN(Tensor e,
                          ExactBranch(c, q, k, v, rope, frames, spatial, branches, scope));
    if (c.attention == AttentionKind::kSoftmax) {
      mixed = std::move(e);
    } else {
      REEL_ASSIGN_OR_RETURN(Tensor p, ops::Linear(e, w.proj_s_w, &w.proj_s_b));
      REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, mixed, p));
    }
  }
  return ops::Linear(mixed, w.out_w, &w.out_b);
}

absl::StatusOr<Tensor> CrossAttention(const DitBlockWeights& w, const DitConfig& c, const Tensor& x,
                                      absl::Span<const CrossContext> cross) {
  REEL_ASSIGN_OR_RETURN(Tensor q, ops::Linear(x, w.x_q_w, &w.x_q_b));
  REEL_ASSIGN_OR_RETURN(q, ops::RmsNorm(q, c.qk_norm_eps, &w.x_norm_q));
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.cross_head_dim));
  const int64_t rows = x.dim(0) / static_cast<int64_t>(cross.size());
  std::vector<Tensor> outs;
  for (size_t b = 0; b < cross.size(); ++b) {
    REEL_ASSIGN_OR_RETURN(Tensor qb, Branch(q, static_cast<int>(b), rows));
    REEL_ASSIGN_OR_RETURN(Tensor o, ops::SoftmaxAttention(qb, cross[b].kv->k, cross[b].kv->v,
                                                          cross[b].mask, c.cross_num_heads, scale));
    outs.push_back(std::move(o));
  }
  REEL_ASSIGN_OR_RETURN(Tensor out,
                        outs.size() == 1 ? absl::StatusOr<Tensor>(outs[0]) : ops::Concat(outs, 0));
  return ops::Linear(out, w.x_out_w, &w.x_out_b);
}

// GLUMBTempConv: per-frame 1×1 expand, SiLU, depthwise 3×3, GLU, 1×1 project, then y + temporal
// conv(y) within each branch.
absl::StatusOr<Tensor> MixFfn(const DitBlockWeights& w, const DitConfig& c, const Tensor& n,
                              int64_t frames, int64_t height, int64_t width, int branches,
                              const AttentionScope& scope) {
  const int64_t spatial = height * width, dim = c.hidden_size, images = branches * frames;
  // Under sequence parallelism the 3×3 conv needs one row beyond this rank's band on each side: the
  // halo rows of the FFN input n (D wide, 2·ffn_hidden/D times fewer bytes than the conv input)
  // come from the neighbours and are expanded here with the band.
  REEL_ASSIGN_OR_RETURN(Tensor n_img, n.Reshape({images, height, width, dim}));
  const bool by_rows =
      scope.parallel.world_size() > 1 && scope.parallel.split == ParallelSplit::kTokenRows;
  REEL_ASSIGN_OR_RETURN(HaloRows halo,
                        WithHaloRows(n_img, by_rows ? scope.parallel : ParallelContext{}));
  const int64_t rows = halo.padded.dim(1);
  REEL_ASSIGN_OR_RETURN(Tensor n_rows, halo.padded.Reshape({images * rows * width, dim}));
  REEL_ASSIGN_OR_RETURN(Tensor a, ops::Linear(n_rows, w.ff_in_w, &w.ff_in_b));
  REEL_ASSIGN_OR_RETURN(a, ops::Activate(a, ops::Activation::kSilu));
  REEL_ASSIGN_OR_RETURN(Tensor img, a.Reshape({images, rows, width, int64_t{2} * c.ffn_hidden}));
  REEL_ASSIGN_OR_RETURN(Tensor dw, ops::DepthwiseConv2d3x3(img, w.ff_dw_w, &w.ff_dw_b));
  if (rows != height) {
    REEL_ASSIGN_OR_RETURN(dw, dw.Slice(1, halo.top, halo.top + height)->Contiguous());
  }
  REEL_ASSIGN_OR_RETURN(Tensor g, ops::SiluGate(dw));
  REEL_ASSIGN_OR_RETURN(Tensor g2, g.Reshape({images * spatial, c.ffn_hidden}));
  REEL_ASSIGN_OR_RETURN(Tensor y, ops::Linear(g2, w.ff_point_w, nullptr));
  REEL_ASSIGN_OR_RETURN(Tensor y_all, y.Reshape({images, spatial, dim}));

  const bool causal = c.temporal_conv == TemporalConvMode::kCausal;
  const bool by_blocks =
      scope.parallel.world_size() > 1 && scope.parallel.split == ParallelSplit::kBlocks;
  const bool banded = scope.parallel.world_size() > 1 && !by_blocks;
  Tensor history, scanned_tail;
  if (causal && scope.state != nullptr) {
    history = scope.state->conv_tail;
    if (by_blocks) {
      REEL_ASSIGN_OR_RETURN(ScannedHistory scanned,
                            ScanConvHistory(y_all, history, scope.parallel));
      history = std::move(scanned.history);
      scanned_tail = std::move(scanned.final_tail);
    }
    if (banded) {
      REEL_ASSIGN_OR_RETURN(Tensor rows,
                            history.Slice(1, scope.band.begin * width, scope.band.end * width));
      REEL_ASSIGN_OR_RETURN(history, rows.Contiguous());
    }
  }
  for (int b = 0; b < branches; ++b) {
    REEL_ASSIGN_OR_RETURN(Tensor y3, y_all.Slice(0, b * frames, (b + 1) * frames));
    REEL_ASSIGN_OR_RETURN(Tensor z, ops::TemporalConv3(y3, history, w.ff_temp_w, causal ? 2 : 1));
    if (scope.update_state) {
      // The next block's conv sees the last two frames of [history, y].
      Tensor joined = y3;
      if (history.defined() && history.numel() > 0) {
        REEL_ASSIGN_OR_RETURN(joined, ops::Concat({history, y3}, 0));
      }
      const int64_t total = joined.dim(0);
      Tensor tail;
      if (total >= 2) {
        REEL_ASSIGN_OR_RETURN(tail, joined.Slice(0, total - 2, total)->Clone());
      } else {
        REEL_ASSIGN_OR_RETURN(Tensor zero, Tensor::ZerosOn(y3.device(), {1, spatial, dim}));
        REEL_ASSIGN_OR_RETURN(tail, ops::Concat({zero, joined}, 0));
      }
      if (banded) {
        REEL_ASSIGN_OR_RETURN(tail, GatherRows(tail, scope.band, width, scope.parallel));
      }
      if (by_blocks) tail = scanned_tail;
      scope.state->conv_tail = std::move(tail);
    }
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, y3, z));
  }
  return y;
}

}  // namespace

absl::StatusOr<DitBlockWeights> DitBlockWeights::Placed(const Placement& p) const {
  DitBlockWeights w;
  const auto place = [&p](const Tensor& t, bool projection) {
    return PlaceWeight(t, p, projection);
  };
  REEL_ASSIGN_OR_RETURN(w.scale_shift_table, place(scale_shift_table, false));
  REEL_ASSIGN_OR_RETURN(w.to_q, place(to_q, true));
  REEL_ASSIGN_OR_RETURN(w.to_k, place(to_k, true));
  REEL_ASSIGN_OR_RETURN(w.to_v, place(to_v, true));
  REEL_ASSIGN_OR_RETURN(w.norm_q, place(norm_q, false));
  REEL_ASSIGN_OR_RETURN(w.norm_k, place(norm_k, false));
  REEL_ASSIGN_OR_RETURN(w.out_w, place(out_w, true));
  REEL_ASSIGN_OR_RETURN(w.out_b, place(out_b, false));
  REEL_ASSIGN_OR_RETURN(w.proj_s_w, place(proj_s_w, true));
  REEL_ASSIGN_OR_RETURN(w.proj_s_b, place(proj_s_b, false));
  REEL_ASSIGN_OR_RETURN(w.x_q_w, place(x_q_w, true));
  REEL_ASSIGN_OR_RETURN(w.x_q_b, place(x_q_b, false));
  REEL_ASSIGN_OR_RETURN(w.x_k_w, place(x_k_w, true));
  REEL_ASSIGN_OR_RETURN(w.x_k_b, place(x_k_b, false));
  REEL_ASSIGN_OR_RETURN(w.x_v_w, place(x_v_w, true));
  REEL_ASSIGN_OR_RETURN(w.x_v_b, place(x_v_b, false));
  REEL_ASSIGN_OR_RETURN(w.x_norm_q, place(x_norm_q, false));
  REEL_ASSIGN_OR_RETURN(w.x_norm_k, place(x_norm_k, false));
  REEL_ASSIGN_OR_RETURN(w.x_out_w, place(x_out_w, true));
  REEL_ASSIGN_OR_RETURN(w.x_out_b, place(x_out_b, false));
  REEL_ASSIGN_OR_RETURN(w.ff_in_w, place(ff_in_w, true));
  REEL_ASSIGN_OR_RETURN(w.ff_in_b, place(ff_in_b, false));
  REEL_ASSIGN_OR_RETURN(w.ff_dw_w, place(ff_dw_w, false));
  REEL_ASSIGN_OR_RETURN(w.ff_dw_b, place(ff_dw_b, false));
  REEL_ASSIGN_OR_RETURN(w.ff_point_w, place(ff_point_w, true));
  // The temporal conv is three D x D GEMMs per token (a sixth of the block's FLOPs): bf16 too.
  REEL_ASSIGN_OR_RETURN(w.ff_temp_w, place(ff_temp_w, true));
  return w;
}

DitBlockWeights DitBlockWeights::Take(WeightStore& s, const std::string& p, const DitConfig& c) {
  const int64_t d = c.hidden_size, hf = c.ffn_hidden;
  DitBlockWeights w;
  w.scale_shift_table = s.Take(p + "scale_shift_table", {6, d});
  w.to_q = s.TakeMatrix(p + "attn1.to_q.weight", {d, d});
  w.to_k = s.TakeMatrix(p + "attn1.to_k.weight", {d, d});
  w.to_v = s.TakeMatrix(p + "attn1.to_v.weight", {d, d});
  w.norm_q = s.Take(p + "attn1.norm_q.weight", {d});
  w.norm_k = s.Take(p + "attn1.norm_k.weight", {d});
  if (c.attention == AttentionKind::kSparseLinear) {
    w.proj_s_w = s.TakeMatrix(p + "attn1.proj_s.weight", {d, d});
    w.proj_s_b = s.Take(p + "attn1.proj_s.bias", {d});
  }
  w.out_w = s.TakeMatrix(p + "attn1.to_out.0.weight", {d, d});
  w.out_b = s.Take(p + "attn1.to_out.0.bias", {d});
  w.x_q_w = s.TakeMatrix(p + "attn2.to_q.weight", {d, d});
  w.x_q_b = s.Take(p + "attn2.to_q.bias", {d});
  w.x_k_w = s.TakeMatrix(p + "attn2.to_k.weight", {d, d});
  w.x_k_b = s.Take(p + "attn2.to_k.bias", {d});
  w.x_v_w = s.TakeMatrix(p + "attn2.to_v.weight", {d, d});
  w.x_v_b = s.Take(p + "attn2.to_v.bias", {d});
  w.x_norm_q = s.Take(p + "attn2.norm_q.weight", {d});
  w.x_norm_k = s.Take(p + "attn2.norm_k.weight", {d});
  w.x_out_w = s.TakeMatrix(p + "attn2.to_out.0.weight", {d, d});
  w.x_out_b = s.Take(p + "attn2.to_out.0.bias", {d});
  w.ff_in_w = s.TakeMatrix(p + "ff.conv_inverted.weight", {2 * hf, d, 1, 1}, {2 * hf, d});
  w.ff_in_b = s.Take(p + "ff.conv_inverted.bias", {2 * hf});
  w.ff_dw_w = s.TakeAs(p + "ff.conv_depth.weight", {2 * hf, 1, 3, 3}, {2 * hf, 3, 3});
  w.ff_dw_b = s.Take(p + "ff.conv_depth.bias", {2 * hf});
  w.ff_point_w = s.TakeMatrix(p + "ff.conv_point.weight", {d, hf, 1, 1}, {d, hf});
  w.ff_temp_w = s.TakeMatrix(p + "ff.conv_temp.weight", {d, d, 3, 1}, {d, d, 3});
  return w;
}

absl::StatusOr<CrossKV> PrepareCrossKV(const DitBlockWeights& w, const DitConfig& c,
                                       const Tensor& caption) {
  CrossKV kv;
  REEL_ASSIGN_OR_RETURN(Tensor k, ops::Linear(caption, w.x_k_w, &w.x_k_b));
  REEL_ASSIGN_OR_RETURN(kv.k, ops::RmsNorm(k, c.qk_norm_eps, &w.x_norm_k));
  REEL_ASSIGN_OR_RETURN(kv.v, ops::Linear(caption, w.x_v_w, &w.x_v_b));
  return kv;
}

absl::Status DitBlockForward(const DitBlockWeights& w, const DitConfig& c, const Tensor& modulation,
                             const RopeTables& rope, absl::Span<const CrossContext> cross,
                             int64_t height, int64_t width, const AttentionScope& scope,
                             Tensor& x) {
  const int branches = static_cast<int>(cross.size());
  const int64_t spatial = x.dim(1), dim = x.dim(2);
  if (branches < 1 || x.dim(0) % branches != 0 || modulation.dim(0) * branches != x.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat("DitBlockForward: ", x.dim(0), " frames for ",
                                                   branches, " branches of ", modulation.dim(0)));
  }
  if (scope.update_state && (scope.state == nullptr || branches != 1)) {
    return absl::InvalidArgumentError("DitBlockForward: update_state needs a state and one branch");
  }
  const int64_t frames = x.dim(0) / branches;
  REEL_ASSIGN_OR_RETURN(Tensor mod1, ops::Add(modulation, w.scale_shift_table));  // (F', 6, D)
  Tensor mod = mod1;
  if (branches > 1) {
    std::vector<Tensor> copies(branches, mod1);
    REEL_ASSIGN_OR_RETURN(mod, ops::Concat(copies, 0));  // (branches·F', 6, D)
  }

  REEL_ASSIGN_OR_RETURN(Tensor n, ModulatedNorm(x, mod, kShiftMsa, c.norm_eps));
  Tensor attn;
  REEL_ASSIGN_OR_RETURN(attn, SelfAttention(w, c, n, rope, frames, spatial, branches, scope));
  REEL_RETURN_IF_ERROR(GatedAdd(x, attn, *Row(mod, kGateMsa)));

  REEL_ASSIGN_OR_RETURN(Tensor flat, x.Reshape({x.dim(0) * spatial, dim}));
  REEL_ASSIGN_OR_RETURN(Tensor cross_out, CrossAttention(w, c, flat, cross));
  REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, flat, cross_out));

  REEL_ASSIGN_OR_RETURN(n, ModulatedNorm(x, mod, kShiftMlp, c.norm_eps));
  REEL_ASSIGN_OR_RETURN(Tensor ff, MixFfn(w, c, n, frames, height, width, branches, scope));
  REEL_RETURN_IF_ERROR(GatedAdd(x, ff, *Row(mod, kGateMlp)));
  if (scope.update_state) {
    // A block-parallel pass absorbs one block per rank.
    const bool by_blocks =
        scope.parallel.world_size() > 1 && scope.parallel.split == ParallelSplit::kBlocks;
    scope.state->frames_seen += frames * (by_blocks ? scope.parallel.world_size() : 1);
  }
  return absl::OkStatus();
}

}  // namespace reel
