#pragma once
// FBCache (first-block cache; diffusers' FirstBlockCache, xDiT): when block 0's output changed by
// less than `threshold` (relative L1) since the last step that ran every block, the remaining
// blocks' residual from that step is reused: last ≈ first_now + (last − first)_then.
#include "pipeline/cache/feature_cache.h"

namespace reel {

class FirstBlockCache final : public FeatureCache {
 public:
  using FeatureCache::FeatureCache;

 private:
  void Reset() override;
  bool CanForecast() const override { return recorded_; }
  absl::StatusOr<bool> Trust(int step, const Tensor& first_block_out) override;
  absl::StatusOr<Tensor> ForecastLast(int step) override;
  absl::Status Record(int step, const Tensor& first_block_out,
                      const Tensor& last_block_out) override;

  bool recorded_ = false;  // first_then_ and residual_ are of this block's trajectory
  bool trusted_ = false;   // first_now_ is of the step being forecast
  Tensor first_then_;      // block 0's output at the last full step
  Tensor residual_;        // blocks 1..L−1's residual at that step
  Tensor first_now_;       // block 0's output at the trusted step
};

}  // namespace reel
