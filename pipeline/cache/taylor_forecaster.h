#pragma once
// Forecasts a feature (an activation tensor) at a later denoising step from its values at the
// last computed steps: the order-m Taylor expansion about the last computed step, with the
// derivatives taken as divided differences over the last m+1 computed steps (TaylorSeer, CG-Taylor
// "LBF"; ../shared/research/acceleration_detail.md A.2).
//
// Divided differences in Newton's form make the forecast exact on any polynomial trajectory of
// degree <= m for any gaps between computed steps. TaylorSeer's own recurrence reuses the last gap
// as the divisor at every order, which equals this for m = 1 but lags the second derivative by
// half a gap (f(s) = s² is forecast as (s_last + x)² − h·x); we keep the exact form.
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

class TaylorForecaster {
 public:
  explicit TaylorForecaster(int order) : order_(order) {}

  // Records the feature's real value at `step`. A step not after the last one, or a new shape,
  // starts the history over.
  absl::Status Refresh(int step, const Tensor& value);
  // The forecast at `step` (any step; at the last refreshed step it is that value exactly).
  // FAILED_PRECONDITION before the first Refresh.
  absl::StatusOr<Tensor> Forecast(int step) const;
  void Reset();

  bool empty() const { return differences_.empty(); }
  int order() const { return order_; }
  // The order the history supports now: min(order, refreshes since the reset - 1).
  int available_order() const { return static_cast<int>(differences_.size()) - 1; }

 private:
  int order_;
  // differences_[k] = f[s_n, s_{n-1}, ..., s_{n-k}]: k-th divided difference ending at the newest
  // step; steps_[j] = s_{n-j}.
  std::vector<Tensor> differences_;
  std::vector<int> steps_;
};

}  // namespace reel
