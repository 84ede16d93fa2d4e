#include "tools/reel/cli_attention_flags.h"

#include "absl/strings/str_cat.h"

namespace reel::cli {

absl::StatusOr<AttentionOverrides> ParseAttentionFlags(Args& args) {
  AttentionOverrides o;
  if (args.Has("attention-window")) {
    absl::StatusOr<int64_t> w = args.Int("attention-window", 0);
    if (!w.ok()) return w.status();
    if (*w < 0 || *w > kMaxAttentionWindow) {
      return absl::InvalidArgumentError(
          absl::StrCat("--attention-window: ", *w, " is outside 0..", kMaxAttentionWindow));
    }
    o.attention_window = static_cast<int>(*w);
  }
  if (args.Has("sla-topk")) {
    absl::StatusOr<double> k = args.Double("sla-topk", 0);
    if (!k.ok()) return k.status();
    if (!(*k > 0 && *k <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat("--sla-topk: ", *k, " is outside (0, 1]"));
    }
    o.sla_topk = static_cast<float>(*k);
  }
  return o;
}

}  // namespace reel::cli
