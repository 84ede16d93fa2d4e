#pragma once
// TaylorSeer, as a last-block forecast on a fixed schedule: every block runs at the warm-up steps
// and then at every `interval`-th step; in between, the last block's output is the order-m Taylor
// forecast from the computed steps (taylor_forecaster.h). No gate: it skips blindly.
#include "pipeline/cache/feature_cache.h"
#include "pipeline/cache/taylor_forecaster.h"

namespace reel {

class TaylorSeerCache final : public FeatureCache {
 public:
  TaylorSeerCache(const CacheOptions& options, int steps, int num_layers, Communicator& comm)
      : FeatureCache(options, steps, num_layers, comm), last_(options.order) {}

 private:
  void Reset() override { last_.Reset(); }
  bool CanForecast() const override { return !last_.empty(); }
  absl::StatusOr<bool> Trust(int step, const Tensor& first_block_out) override;
  absl::StatusOr<Tensor> ForecastLast(int step) override { return last_.Forecast(step); }
  absl::Status Record(int step, const Tensor&, const Tensor& last_block_out) override {
    return last_.Refresh(step, last_block_out);
  }

  TaylorForecaster last_;
};

}  // namespace reel
