#pragma once
// The public API's documented limits (proto/reel/v1/generation.proto), in one place: the gateway
// checks requests against these at the edge, the CLI and docs quote them.
#include <cstdint>

#include "pipeline/cache/cache_limits.h"
#include "pipeline/model/attention_limits.h"

namespace reel::service {

inline constexpr int kMaxPromptBytes = 4096;  // prompt and negative_prompt
inline constexpr int kMinSide = 16;           // width / height when set
inline constexpr int kMaxSide = 1024;
inline constexpr int kSideMultiple = 8;  // width / height multiple (models may need more)
inline constexpr int kMaxFrames = 4096;
inline constexpr double kMaxFps = 240.0;
inline constexpr int kMaxSteps = 200;
inline constexpr double kMaxCfgScale = 30.0;
inline constexpr int kMinPriority = -10;
inline constexpr int kMaxPriority = 10;
inline constexpr int kMaxModelNameBytes = 128;
inline constexpr int kMaxIdempotencyKeyBytes = 128;
inline constexpr int kMaxJobIdBytes = 64;
// Feature caching (cache_policy, cache_threshold, cache_interval): the engine's own limits.
inline constexpr auto& kCachePolicyNames = cache_limits::kPolicyNames;
inline constexpr double kMaxCacheThreshold = cache_limits::kMaxThreshold;
inline constexpr int kMaxCacheInterval = cache_limits::kMaxInterval;
// The exact attention branch (attention_window, sla_topk in (0, 1]).
inline constexpr int kMaxAttentionWindow = attention_limits::kMaxWindow;

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultChunkBytes = 256 * 1024;
inline constexpr int kMaxChunkBytes = 1024 * 1024;  // fits gRPC's default 4 MiB receive limit
inline constexpr int kMaxLeaseWaitMs = 30000;

// Previews: one PNG per finished block, longer side at most this many pixels.
inline constexpr int kPreviewMaxSide = 128;

}  // namespace reel::service
