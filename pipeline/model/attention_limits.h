#pragma once
// Limits of a request's exact-attention settings (config.h AttentionOverrides), header-only so that
// the gateway checks requests at the edge against the engine's own numbers.

namespace reel::attention_limits {

// A window keeps the K/V of (window − 1) blocks per layer: bounded so that a request cannot ask
// for unbounded memory.
inline constexpr int kMaxWindow = 64;

}  // namespace reel::attention_limits
