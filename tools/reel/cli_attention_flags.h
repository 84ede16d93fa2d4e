#pragma once
// The exact-attention flags of `reel render` and `reel eval --suite` (models whose attention is
// softmax or sparse_linear; `reel models` shows each model's defaults).
#include "absl/status/statusor.h"
#include "pipeline/model/config.h"
#include "tools/reel/cli_args.h"

namespace reel::cli {

inline constexpr char kAttentionFlagsUsage[] =
    R"(  --attention-window W video blocks the exact attention sees, the current one included
                       (softmax / sparse_linear models; 0: softmax sees every block,
                       sparse_linear becomes pure linear attention)
  --sla-topk K         sparse_linear: share of key tiles each query tile attends exactly, (0, 1]
)";

// Unset flags stay unset (the model's value applies); values are checked against the model when
// the request is resolved (WithAttentionOverrides).
absl::StatusOr<AttentionOverrides> ParseAttentionFlags(Args& args);

}  // namespace reel::cli
