#include "pipeline/generate/prefill.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::Status AbsorbBlocks(const Dit& dit, const PreparedCaption& cond, const Tensor& context,
                          int64_t first_block, ModelState& state, const ParallelContext& parallel) {
  const DitConfig& c = dit.config();
  const int64_t block_latent = int64_t{c.block_frames} * c.patch_size[0];
  if (context.rank() != 4 || context.dim(1) % block_latent != 0) {
    return absl::InvalidArgumentError(absl::StrCat("context ", ShapeString(context.shape()),
                                                   ": expected (C, K·", block_latent, ", H, W)"));
  }
  const int64_t blocks = context.dim(1) / block_latent;
  const int world = parallel.world_size(), rank = parallel.rank();
  // Absorbs block first + own of the context (own: this rank's block of a block-parallel round).
  auto absorb = [&](int64_t first, const ParallelContext& how, int64_t own) -> absl::Status {
    ForwardOptions options;
    options.state = &state;
    options.update_state = true;
    options.parallel = how;
    options.frame_offset = (first_block + first + own) * c.block_frames;
    REEL_ASSIGN_OR_RETURN(Tensor block, context.Slice(1, (first + own) * block_latent,
                                                      (first + own + 1) * block_latent));
    return dit.Forward(block, {0.0f}, cond, options).status();
  };
  int64_t b = 0;
  if (world > 1) {
    ParallelContext by_blocks = parallel;
    by_blocks.split = ParallelSplit::kBlocks;
    for (; b + world <= blocks; b += world) {
      REEL_RETURN_IF_ERROR(absorb(b, by_blocks, rank));
    }
  }
  for (; b < blocks; ++b) REEL_RETURN_IF_ERROR(absorb(b, ParallelContext{}, 0));
  return absl::OkStatus();
}

}  // namespace reel
