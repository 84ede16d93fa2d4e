#include "pipeline/model/block_state.h"

#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<BlockState> BlockState::Zeros(int64_t heads, int64_t head_dim, int64_t spatial,
                                             int64_t dim, const Device& device) {
  BlockState s;
  REEL_ASSIGN_OR_RETURN(s.kv, Tensor::ZerosOn(device, {heads, head_dim, head_dim}));
  REEL_ASSIGN_OR_RETURN(s.ksum, Tensor::ZerosOn(device, {heads, head_dim}));
  REEL_ASSIGN_OR_RETURN(s.conv_tail, Tensor::ZerosOn(device, {2, spatial, dim}));
  return s;
}

absl::StatusOr<ModelState> CloneState(const ModelState& state) {
  ModelState out;
  out.reserve(state.size());
  for (const BlockState& s : state) {
    BlockState c;
    REEL_ASSIGN_OR_RETURN(c.kv, s.kv.Clone());
    REEL_ASSIGN_OR_RETURN(c.ksum, s.ksum.Clone());
    REEL_ASSIGN_OR_RETURN(c.conv_tail, s.conv_tail.Clone());
    if (s.win_k.defined()) {
      REEL_ASSIGN_OR_RETURN(c.win_k, s.win_k.Clone());
      REEL_ASSIGN_OR_RETURN(c.win_v, s.win_v.Clone());
    }
    c.frames_seen = s.frames_seen;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace reel
