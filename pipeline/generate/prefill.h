#pragma once
// Absorbing clean context blocks into the constant-memory state (a video extension conditioned on
// given blocks, a teacher-forced check): the same state as GenerateBlocks' update pass run block
// after block, with a world of P ranks taking P consecutive blocks at a time (temporal parallel
// prefill, ParallelSplit::kBlocks: each rank's prefix state comes from an AllScan).
#include <cstdint>

#include "absl/status/status.h"
#include "pipeline/model/dit.h"
#include "pipeline/parallel/communicator.h"

namespace reel {

// context: clean latents (C, K·block_frames·pt, H, W) of K blocks, the first at block index
// `first_block` of the video (its RoPE position); state: the state before them, updated in place
// (the same on every rank). Rounds of P blocks go one per rank; a last round of fewer than P
// blocks is absorbed by every rank alike. parallel.split is ignored.
absl::Status AbsorbBlocks(const Dit& dit, const PreparedCaption& cond, const Tensor& context,
                          int64_t first_block, ModelState& state, const ParallelContext& parallel);

}  // namespace reel
