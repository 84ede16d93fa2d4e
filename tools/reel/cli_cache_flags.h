#pragma once
// The feature-caching flags shared by `reel render`, `reel eval --suite` and `reel bench`.
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/cache/cache_options.h"
#include "tools/reel/cli_args.h"

namespace reel::cli {

inline constexpr char kCacheFlagsUsage[] =
    R"(  --cache POLICY       feature caching: none | fbcache | taylorseer | cg-taylor
                       (default: the model's, `reel models`)
  --cache-threshold T  fbcache / cg-taylor: skip when block 0's change / forecast error
                       (relative L1) is below T, 0..1
  --cache-interval N   taylorseer: every block runs at every N-th step
  --cache-order M      Taylor order of the forecast (taylorseer, cg-taylor), 0..2
  --cache-warmup W     the first W steps of every block run every block
  --cache-max-skips K  at most K skipped steps in a row (0: no limit)
)";

// Reads the --cache* flags; unset ones stay unset (the model's default applies). Values are
// checked when the request is resolved against the model (ResolveCacheOptions).
absl::StatusOr<CacheRequest> ParseCacheFlags(Args& args);

}  // namespace reel::cli
