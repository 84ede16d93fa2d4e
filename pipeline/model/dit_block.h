#pragma once
// One SANA-Video transformer block: modulated self-attention of the model's kind, cross-attention
// to the caption, modulated Mix-FFN with a temporal conv (README "Forward" step 4).
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pipeline/model/block_state.h"
#include "pipeline/model/config.h"
#include "pipeline/model/placement.h"
#include "pipeline/model/rope.h"
#include "pipeline/model/weights.h"
#include "pipeline/parallel/band.h"
#include "pipeline/parallel/communicator.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct DitBlockWeights {
  Tensor scale_shift_table;                               // (6, D)
  Tensor to_q, to_k, to_v, norm_q, norm_k, out_w, out_b;  // attn1
  Tensor proj_s_w, proj_s_b;  // attn1.proj_s: sparse_linear's exact branch (D, D), (D)
  Tensor x_q_w, x_q_b, x_k_w, x_k_b, x_v_w, x_v_b, x_norm_q, x_norm_k, x_out_w, x_out_b;  // attn2
  Tensor ff_in_w, ff_in_b, ff_dw_w, ff_dw_b, ff_point_w, ff_temp_w;                       // ff

  static DitBlockWeights Take(WeightStore& w, const std::string& prefix, const DitConfig& c);
  // A copy with every weight placed (placement.h): projections in the placement's precision.
  absl::StatusOr<DitBlockWeights> Placed(const Placement& placement) const;
};

// The caption's keys and values for one block's cross-attention: they depend only on the prompt, so
// they are computed once per request, not once per step.
struct CrossKV {
  Tensor k;  // (L, D), RMS-normalized
  Tensor v;  // (L, D)
};

absl::StatusOr<CrossKV> PrepareCrossKV(const DitBlockWeights& w, const DitConfig& c,
                                       const Tensor& caption /*(L, D) projected*/);

// One guidance branch's caption for cross-attention.
struct CrossContext {
  const CrossKV* kv = nullptr;
  const Tensor* mask = nullptr;  // (L) of 0/1
};

// How the self-attention and the temporal conv see other tokens in this call.
struct AttentionScope {
  int causal_block_frames = 0;  // 0: bidirectional over the call; else blocks of this many frames
  BlockState* state = nullptr;  // earlier blocks (read); null: none
  bool update_state = false;    // add this call's tokens to *state afterwards
  ParallelContext parallel;     // reduces the attention sums (default: one rank)
  // Under spatial sequence parallelism (world > 1): this rank's token rows of every frame. The
  // tokens x hold only these rows; the depthwise conv exchanges one halo row with rank ± 1, and
  // the state's conv_tail keeps whole frames (each rank updates its rows, then they are gathered).
  RowBand band;
};

// x: (B·F', S, D) with S = height·width (this rank's band of rows under sequence parallelism): B
// guidance branches (one per entry of `cross`, e.g. conditional and
// unconditional), each F' frames of S = H'·W' tokens, updated in place. Batching the branches makes
// every GEMM B× taller; they differ only in cross-attention and share the state (read-only;
// updating it needs B = 1). modulation: (F', 6, D) = t6 per frame (the block adds its
// scale_shift_table).
absl::Status DitBlockForward(const DitBlockWeights& w, const DitConfig& c, const Tensor& modulation,
                             const RopeTables& rope, absl::Span<const CrossContext> cross,
                             int64_t height, int64_t width, const AttentionScope& scope, Tensor& x);

}  // namespace reel
