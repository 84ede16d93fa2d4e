#pragma once
// 3D rotary tables (Wan-style split of the head dim into t | h | w, interleaved pairs).
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct RopeTables {
  Tensor cos;  // (tokens, head_dim / 2)
  Tensor sin;
};

// Tokens in frame-major, h, w order over a (frames, height, width) token grid; frame positions
// start at frame_offset (absolute positions in block-autoregressive generation: README "RoPE").
absl::StatusOr<RopeTables> BuildRope3d(int64_t frames, int64_t height, int64_t width,
                                       int64_t frame_offset, int head_dim, float theta,
                                       Allocator* alloc = nullptr);

}  // namespace reel
