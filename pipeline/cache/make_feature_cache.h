#pragma once
// The policy a CacheOptions names, for one request.
#include <memory>

#include "absl/status/statusor.h"
#include "pipeline/cache/cache_options.h"
#include "pipeline/cache/feature_cache.h"
#include "pipeline/parallel/communicator.h"

namespace reel {

// null for CachePolicyKind::kNone (every block runs, the forward keeps no history). `comm` must
// outlive the policy.
absl::StatusOr<std::unique_ptr<FeatureCache>> MakeFeatureCache(const CacheOptions& options,
                                                               int steps, int num_layers,
                                                               Communicator& comm);

}  // namespace reel
