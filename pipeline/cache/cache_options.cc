#include "pipeline/cache/cache_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/cache/cache_limits.h"
#include "pipeline/model/json_fields.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

absl::Status Invalid(absl::string_view option, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("cache ", option, ": ", what));
}

absl::Status CheckRange(absl::string_view option, int value, int lo, int hi) {
  if (value < lo || value > hi) {
    return Invalid(option, absl::StrCat(value, " is outside ", lo, "..", hi));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view CachePolicyName(CachePolicyKind kind) {
  return cache_limits::kPolicyNames[static_cast<size_t>(kind)];
}

absl::StatusOr<CachePolicyKind> ParseCachePolicyName(absl::string_view name) {
  for (size_t i = 0; i < cache_limits::kPolicyNames.size(); ++i) {
    if (cache_limits::kPolicyNames[i] == name) return static_cast<CachePolicyKind>(i);
  }
  return Invalid("policy", absl::StrCat("'", name, "' is not one of ",
                                        absl::StrJoin(cache_limits::kPolicyNames, ", ")));
}

CacheOptions DefaultCacheOptions(CachePolicyKind kind) {
  CacheOptions o;
  o.policy = kind;
  switch (kind) {
    case CachePolicyKind::kNone:
      break;
    case CachePolicyKind::kFbCache:
      // diffusers' default threshold; like other systems, no forced last step.
      o.threshold = 0.05;
      o.final_step = false;
      break;
    case CachePolicyKind::kTaylorSeer:
      // TaylorSeer's own setting: 3 warm-up steps, then every N-th step, order 1.
      o.interval = 3;
      o.warmup_steps = 3;
      break;
    case CachePolicyKind::kCgTaylor:
      // Warm-up as in the paper's Wan2.1 schedule (scaled to 20-50 steps); threshold chosen on
      // reel-tiny with `reel eval --suite --cache-sweep` (README, performance).
      o.threshold = 0.05;
      o.warmup_steps = 3;
      break;
  }
  return o;
}

absl::Status ValidateCacheOptions(const CacheOptions& o) {
  if (!(o.threshold >= 0.0 && o.threshold <= cache_limits::kMaxThreshold)) {
    return Invalid("threshold",
                   absl::StrCat(o.threshold, " is outside 0..", cache_limits::kMaxThreshold));
  }
  REEL_RETURN_IF_ERROR(CheckRange("interval", o.interval, 1, cache_limits::kMaxInterval));
  REEL_RETURN_IF_ERROR(CheckRange("order", o.order, 0, cache_limits::kMaxOrder));
  REEL_RETURN_IF_ERROR(
      CheckRange("first block order", o.first_block_order, 0, cache_limits::kMaxFirstBlockOrder));
  REEL_RETURN_IF_ERROR(
      CheckRange("warmup steps", o.warmup_steps, 0, cache_limits::kMaxWarmupSteps));
  return CheckRange("max consecutive skips", o.max_consecutive_skips, 0,
                    cache_limits::kMaxConsecutiveSkips);
}

absl::StatusOr<CacheOptions> ParseCacheConfig(const nlohmann::json& j) {
  if (j.is_null()) return CacheOptions{};
  std::string policy = "none";
  {
    JsonFields probe(j, "config.json cache");
    probe.Optional("policy", policy);
  }
  REEL_ASSIGN_OR_RETURN(CachePolicyKind kind, ParseCachePolicyName(policy));
  CacheOptions o = DefaultCacheOptions(kind);
  JsonFields f(j, "config.json cache");
  f.Optional("policy", policy);
  f.Optional("threshold", o.threshold);
  f.Optional("interval", o.interval);
  f.Optional("order", o.order);
  f.Optional("first_block_order", o.first_block_order);
  f.Optional("warmup_steps", o.warmup_steps);
  f.Optional("max_consecutive_skips", o.max_consecutive_skips);
  f.Optional("final_step", o.final_step);
  REEL_RETURN_IF_ERROR(f.Finish());
  REEL_RETURN_IF_ERROR(ValidateCacheOptions(o));
  return o;
}

absl::StatusOr<CacheOptions> ResolveCacheOptions(const CacheOptions& model_default,
                                                 const CacheRequest& r) {
  CacheOptions o = model_default;
  if (!r.policy.empty()) {
    REEL_ASSIGN_OR_RETURN(CachePolicyKind kind, ParseCachePolicyName(r.policy));
    if (kind != model_default.policy) o = DefaultCacheOptions(kind);
  }
  if (r.threshold) o.threshold = *r.threshold;
  if (r.interval) o.interval = *r.interval;
  if (r.order) o.order = *r.order;
  if (r.first_block_order) o.first_block_order = *r.first_block_order;
  if (r.warmup_steps) o.warmup_steps = *r.warmup_steps;
  if (r.max_consecutive_skips) o.max_consecutive_skips = *r.max_consecutive_skips;
  if (r.final_step) o.final_step = *r.final_step;
  REEL_RETURN_IF_ERROR(ValidateCacheOptions(o));
  return o;
}

CacheRequest ToCacheRequest(const CacheOptions& o) {
  CacheRequest r;
  r.policy = std::string(CachePolicyName(o.policy));
  r.threshold = o.threshold;
  r.interval = o.interval;
  r.order = o.order;
  r.first_block_order = o.first_block_order;
  r.warmup_steps = o.warmup_steps;
  r.max_consecutive_skips = o.max_consecutive_skips;
  r.final_step = o.final_step;
  return r;
}

std::string DescribeCacheOptions(const CacheOptions& o) {
  std::string s(CachePolicyName(o.policy));
  switch (o.policy) {
    case CachePolicyKind::kNone:
      return s;
    case CachePolicyKind::kFbCache:
      absl::StrAppend(&s, " threshold=", o.threshold);
      break;
    case CachePolicyKind::kTaylorSeer:
      absl::StrAppend(&s, " interval=", o.interval, " order=", o.order);
      break;
    case CachePolicyKind::kCgTaylor:
      absl::StrAppend(&s, " threshold=", o.threshold, " order=", o.order,
                      " first_block_order=", o.first_block_order);
      break;
  }
  absl::StrAppend(&s, " warmup=", o.warmup_steps);
  if (o.max_consecutive_skips > 0) absl::StrAppend(&s, " max_skips=", o.max_consecutive_skips);
  if (!o.final_step) absl::StrAppend(&s, " final_step=false");
  return s;
}

}  // namespace reel
