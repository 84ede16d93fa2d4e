#pragma once
// CG-Taylor ("Forecasting When to Forecast", arXiv 2508.02240; ../shared/research/
// acceleration_detail.md part A): Taylor forecasts of block 0's output and of the last block's
// output, refreshed together at every step that runs every block. Block 0 always runs; when its
// real output is within `threshold` (relative L1) of its own forecast, the last block's forecast is
// trusted and blocks 1..L−1 are skipped.
//
// Why block 0's history is not refreshed at skipped steps: its forecast then extrapolates over the
// same distance from the same computed steps as the last block's, so its error measures how far
// the forecast being trusted has drifted (the reference code does the same).
#include "pipeline/cache/feature_cache.h"
#include "pipeline/cache/taylor_forecaster.h"

namespace reel {

class ConfidenceGatedTaylor final : public FeatureCache {
 public:
  ConfidenceGatedTaylor(const CacheOptions& options, int steps, int num_layers, Communicator& comm)
      : FeatureCache(options, steps, num_layers, comm),
        first_(options.first_block_order),
        last_(options.order) {}

  // The gate's error at the last step it was evaluated (for diagnostics and tests); -1 before.
  double last_error() const { return last_error_; }

 private:
  void Reset() override;
  bool CanForecast() const override { return !first_.empty() && !last_.empty(); }
  absl::StatusOr<bool> Trust(int step, const Tensor& first_block_out) override;
  absl::StatusOr<Tensor> ForecastLast(int step) override { return last_.Forecast(step); }
  absl::Status Record(int step, const Tensor& first_block_out,
                      const Tensor& last_block_out) override;

  TaylorForecaster first_;
  TaylorForecaster last_;
  double last_error_ = -1.0;
};

}  // namespace reel
