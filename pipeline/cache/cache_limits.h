#pragma once
// The feature-caching policies' names and the limits of their options, in one dependency-free
// place: the engine checks them (cache_options.cc), the public API's edge quotes them
// (services/common/limits.h), and the docs list them.
#include <array>

namespace reel::cache_limits {

// Config, CLI and API names, in the order of CachePolicyKind.
inline constexpr std::array<const char*, 4> kPolicyNames = {"none", "fbcache", "taylorseer",
                                                            "cg-taylor"};
// A relative L1 distance; 1 means "as large as the feature itself", past which no gate is useful.
inline constexpr double kMaxThreshold = 1.0;
inline constexpr int kMaxInterval = 100;
inline constexpr int kMaxOrder = 2;            // of the last block's forecast
inline constexpr int kMaxFirstBlockOrder = 3;  // of CG-Taylor's first-block probe
inline constexpr int kMaxWarmupSteps = 200;
inline constexpr int kMaxConsecutiveSkips = 200;

}  // namespace reel::cache_limits
