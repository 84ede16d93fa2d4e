#include "pipeline/cache/taylorseer_cache.h"

namespace reel {

absl::StatusOr<bool> TaylorSeerCache::Trust(int step, const Tensor&) {
  // Counted from the end of the warm-up, which is the first step that could be skipped.
  return (step - options().warmup_steps) % options().interval != 0;
}

}  // namespace reel
