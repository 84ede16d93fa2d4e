#include "pipeline/cache/taylor_forecaster.h"

#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

void TaylorForecaster::Reset() {
  differences_.clear();
  steps_.clear();
}

absl::Status TaylorForecaster::Refresh(int step, const Tensor& value) {
  if (!empty() && (step <= steps_.front() || value.shape() != differences_.front().shape())) {
    Reset();
  }
  std::vector<Tensor> next;
  REEL_ASSIGN_OR_RETURN(Tensor v, value.Contiguous());
  REEL_ASSIGN_OR_RETURN(Tensor f0, v.Clone());
  next.push_back(std::move(f0));
  // f[s', s_n, ..., s_{n-k+1}] = (f[s', ..., s_{n-k+2}] − f[s_n, ..., s_{n-k+1}]) / (s' −
  // s_{n-k+1})
  const int known = static_cast<int>(differences_.size());
  for (int k = 1; k <= order_ && k <= known; ++k) {
    const float inv_gap = 1.0f / static_cast<float>(step - steps_[k - 1]);
    REEL_ASSIGN_OR_RETURN(Tensor d, next[k - 1].Clone());
    REEL_RETURN_IF_ERROR(ops::Axpby(-inv_gap, differences_[k - 1], inv_gap, d));
    next.push_back(std::move(d));
  }
  differences_ = std::move(next);
  steps_.insert(steps_.begin(), step);
  if (static_cast<int>(steps_.size()) > order_ + 1) steps_.resize(order_ + 1);
  return absl::OkStatus();
}

absl::StatusOr<Tensor> TaylorForecaster::Forecast(int step) const {
  if (empty()) return absl::FailedPreconditionError("TaylorForecaster: nothing refreshed yet");
  REEL_ASSIGN_OR_RETURN(Tensor out, differences_[0].Clone());
  // Newton's form: Σ_k f[s_n..s_{n-k}] · Π_{j<k} (step − s_{n-j}).
  double product = 1.0;
  for (size_t k = 1; k < differences_.size(); ++k) {
    product *= static_cast<double>(step - steps_[k - 1]);
    if (product == 0.0) break;  // at a refreshed step the higher terms vanish
    REEL_RETURN_IF_ERROR(ops::Axpby(static_cast<float>(product), differences_[k], 1.0f, out));
  }
  return out;
}

}  // namespace reel
