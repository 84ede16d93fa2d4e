#pragma once
// What a render asks of feature caching: the policy and its knobs, the per-model default read from
// config.json ("cache"), and how a request's overrides combine with that default.
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace reel {

enum class CachePolicyKind { kNone, kFbCache, kTaylorSeer, kCgTaylor };

absl::string_view CachePolicyName(CachePolicyKind kind);
// "none", "fbcache", "taylorseer", "cg-taylor"; anything else is INVALID_ARGUMENT listing them.
absl::StatusOr<CachePolicyKind> ParseCachePolicyName(absl::string_view name);

struct CacheOptions {
  CachePolicyKind policy = CachePolicyKind::kNone;
  // fbcache: relative L1 change of block 0's output since the last full step;
  // cg-taylor: relative L1 error of the Taylor forecast of block 0's output. Skip when below.
  double threshold = 0.0;
  int interval = 1;           // taylorseer: every block runs at every interval-th step
  int order = 1;              // taylorseer, cg-taylor: Taylor order of the last block's forecast
  int first_block_order = 1;  // cg-taylor: Taylor order of the gate's probe (block 0's forecast)
  int warmup_steps = 1;       // the first steps of every block's schedule run every block
  int max_consecutive_skips = 0;  // 0: no limit
  bool final_step = true;         // the last step of every block's schedule runs every block
};

// The built-in defaults of a policy (what `--cache POLICY` alone means).
CacheOptions DefaultCacheOptions(CachePolicyKind kind);
// Every knob within cache_limits.h; the message names the option ("cache threshold: ...").
absl::Status ValidateCacheOptions(const CacheOptions& options);
// config.json's optional "cache" object, e.g. {"policy": "cg-taylor", "threshold": 0.05}: keys
// not given keep the policy's defaults; absent or null: no caching.
absl::StatusOr<CacheOptions> ParseCacheConfig(const nlohmann::json& j);

// What one request says; every unset field means "the model's default".
struct CacheRequest {
  std::string policy;  // "": the model's default policy
  std::optional<double> threshold;
  std::optional<int> interval;
  std::optional<int> order;
  std::optional<int> first_block_order;
  std::optional<int> warmup_steps;
  std::optional<int> max_consecutive_skips;
  std::optional<bool> final_step;
};

// The model's default with the request's overrides; a request naming another policy than the
// model's starts from that policy's built-in defaults. Validated.
absl::StatusOr<CacheOptions> ResolveCacheOptions(const CacheOptions& model_default,
                                                 const CacheRequest& request);
// The fully explicit request that resolves to `options` (for recording what a job used).
CacheRequest ToCacheRequest(const CacheOptions& options);
// One line for logs and metadata, e.g. "cg-taylor threshold=0.05 order=1 warmup=3".
std::string DescribeCacheOptions(const CacheOptions& options);

}  // namespace reel
