#pragma once
// The exact (softmax) branch of the `softmax` and `sparse_linear` attention kinds (README
// "Attention kinds"): per video block, softmax attention of the block's queries on the keys of its
// window — the kept keys of the W − 1 blocks before it and the block itself — dense for `softmax`,
// over the SLA-selected key tiles for `sparse_linear`. The window's keys and values are what a
// block-AR state keeps; their size depends on W and the frame size, never on the video's length.
#include <cstdint>

#include "absl/status/statusor.h"
#include "pipeline/model/config.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct ExactAttentionInput {
  const Tensor* q = nullptr;       // (rows, heads·d), RMS-normalized, RoPE-rotated
  const Tensor* k = nullptr;       // (rows, heads·d), likewise
  const Tensor* v = nullptr;       // (rows, heads·d)
  const Tensor* past_k = nullptr;  // (P, heads·d): kept keys of earlier blocks, or null
  const Tensor* past_v = nullptr;
  int64_t block_tokens = 0;  // tokens of one video block; 0: the call is one bidirectional block
};

struct ExactAttentionOutput {
  Tensor out;     // (rows, heads·d), before to_out / proj_s
  Tensor kept_k;  // what the next block's window needs (undefined for a bidirectional call)
  Tensor kept_v;
  int64_t tiles_computed = 0;  // key tiles attended, summed over heads and query tiles
  int64_t tiles_allowed = 0;   // key tiles in the windows
};

// The tile the engine uses for a configured tile: with blocks, the largest divisor of the block's
// tokens not above it; without, the configured one.
int64_t EffectiveTile(int64_t tile, int64_t block_tokens);

absl::StatusOr<ExactAttentionOutput> ExactSelfAttention(const DitConfig& config,
                                                        const ExactAttentionInput& in);

}  // namespace reel
