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
  // Kinds with an exact branch (exact_attention.h): the rotated keys and the values of the blocks
  // the next block's window reaches, (tokens, D); undefined until a block was absorbed.
  Tensor win_k, win_v;
  int64_t frames_seen = 0;

  // On `device`: the state lives where the model computes (a GPU keeps it resident).
  static absl::StatusOr<BlockState> Zeros(int64_t heads, int64_t head_dim, int64_t spatial,
                                          int64_t dim, const Device& device = Device::Cpu());
  int64_t bytes() const {
    const size_t window = win_k.defined() ? win_k.bytes() + win_v.bytes() : 0;
    return static_cast<int64_t>(kv.bytes() + ksum.bytes() + conv_tail.bytes() + window);
  }
};

using ModelState = std::vector<BlockState>;  // one per layer

absl::StatusOr<ModelState> CloneState(const ModelState& state);

}  // namespace reel
