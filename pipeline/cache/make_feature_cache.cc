#include "pipeline/cache/make_feature_cache.h"

#include "absl/strings/str_cat.h"
#include "pipeline/cache/confidence_gated_taylor.h"
#include "pipeline/cache/first_block_cache.h"
#include "pipeline/cache/taylorseer_cache.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<std::unique_ptr<FeatureCache>> MakeFeatureCache(const CacheOptions& options,
                                                               int steps, int num_layers,
                                                               Communicator& comm) {
  REEL_RETURN_IF_ERROR(ValidateCacheOptions(options));
  if (steps < 1 || num_layers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature cache: ", steps, " steps, ", num_layers, " layers"));
  }
  switch (options.policy) {
    case CachePolicyKind::kNone:
      return nullptr;
    case CachePolicyKind::kFbCache:
      return std::make_unique<FirstBlockCache>(options, steps, num_layers, comm);
    case CachePolicyKind::kTaylorSeer:
      return std::make_unique<TaylorSeerCache>(options, steps, num_layers, comm);
    case CachePolicyKind::kCgTaylor:
      return std::make_unique<ConfidenceGatedTaylor>(options, steps, num_layers, comm);
  }
  return absl::InternalError("unknown cache policy");
}

}  // namespace reel
