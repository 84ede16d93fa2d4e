#pragma once
// `reel eval --suite --cache POLICY [...]` and `--cache-sweep LIST`: the feature-caching harness.
// Every suite prompt is rendered without a cache and with each cache setting, same seed, in one
// run; per setting it prints block-forwards skipped, wall-time speedup, PSNR/SSIM against the
// uncached render, and the evaluator's accuracy with and without the cache.
#include <string>
#include <vector>

#include "pipeline/generate/renderer.h"
#include "tools/reel/cli_eval_suite.h"

namespace reel::cli {

struct CacheComparisonOptions {
  std::vector<SuitePrompt> prompts;
  int steps = 0;        // 0: the model's
  double cfg = -1;      // < 0: the model's
  std::string sampler;  // "": the model's
  CacheRequest common;  // --cache and the other --cache-* flags
  std::string sweep;    // --cache-sweep: "cg-taylor@0.05,taylorseer@3,fbcache@0.1" (or "")
  bool verbose = false;
};

// Exit code: 0, or 2 for a bad sweep or cache setting, 1 when a render fails.
int RunCacheComparison(Renderer& renderer, const CacheComparisonOptions& options);

}  // namespace reel::cli
