#pragma once
// The constant-memory context of block-autoregressive generation, one per DiT layer (README
// "Block-causal attention and the constant-memory state"): its size depends on the model and the
// frame size, never on how many blocks came before.
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct BlockState {
  Tensor kv;         // (heads, d, d): Σ v k̃ᵀ over finished tokens (k̃ = RoPE(φ(k)))
  Tensor ksum;       // (heads, d): Σ φ(k), un-rotated
  Tensor conv_tail;  // (2, spatial, D): the last two frames of the temporal-conv input
  int64_t frames_seen = 0;

  static absl::StatusOr<BlockState> Zeros(int64_t heads, int64_t head_dim, int64_t spatial,
                                          int64_t dim);
  int64_t bytes() const {
    return static_cast<int64_t>(kv.bytes() + ksum.bytes() + conv_tail.bytes());
  }
};

using ModelState = std::vector<BlockState>;  // one per layer

absl::StatusOr<ModelState> CloneState(const ModelState& state);

}  // namespace reel
