#include "tools/reel/cli_cache_flags.h"

#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace reel::cli {

absl::StatusOr<CacheRequest> ParseCacheFlags(Args& args) {
  CacheRequest r;
  r.policy = args.String("cache", "");
  if (args.Has("cache") && r.policy.empty()) {
    return absl::InvalidArgumentError("--cache: expected none, fbcache, taylorseer or cg-taylor");
  }
  if (args.Has("cache-threshold")) {
    absl::StatusOr<double> t = args.Double("cache-threshold", 0);
    if (!t.ok()) return t.status();
    r.threshold = *t;
  }
  for (auto [name, field] :
       {std::pair{"cache-interval", &r.interval}, std::pair{"cache-order", &r.order},
        std::pair{"cache-warmup", &r.warmup_steps},
        std::pair{"cache-max-skips", &r.max_consecutive_skips}}) {
    if (!args.Has(name)) continue;
    absl::StatusOr<int64_t> v = args.Int(name, 0);
    if (!v.ok()) return v.status();
    if (*v < 0 || *v > std::numeric_limits<int>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", *v, " is out of range"));
    }
    *field = static_cast<int>(*v);
  }
  return r;
}

}  // namespace reel::cli
