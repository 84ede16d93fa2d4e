#include "pipeline/cache/feature_cache.h"

#include <limits>

#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

FeatureCache::FeatureCache(const CacheOptions& options, int steps, int num_layers,
                           Communicator& comm)
    : options_(options), steps_(steps), num_layers_(num_layers), comm_(&comm) {}

absl::StatusOr<bool> FeatureCache::ShouldCompute(int step, const Tensor& first_block_out) {
  if (step <= last_step_) {  // the next block's trajectory (steps restart at 0)
    Reset();
    consecutive_skips_ = 0;
  }
  last_step_ = step;
  // The schedule is the same on every rank, so only the policy's own gate needs agreeing on.
  const bool forced = step < options_.warmup_steps || (options_.final_step && step == steps_ - 1) ||
                      (options_.max_consecutive_skips > 0 &&
                       consecutive_skips_ >= options_.max_consecutive_skips) ||
                      !CanForecast();
  bool compute = forced;
  if (!forced) {
    REEL_ASSIGN_OR_RETURN(const bool trusted, Trust(step, first_block_out));
    compute = !trusted;
  }
  if (compute) {
    consecutive_skips_ = 0;
    ++stats_.forwards_computed;
    stats_.block_forwards_computed += num_layers_;
  } else {
    ++consecutive_skips_;
    ++stats_.forwards_skipped;
    stats_.block_forwards_computed += 1;
    stats_.block_forwards_skipped += num_layers_ - 1;
  }
  return compute;
}

absl::StatusOr<Tensor> FeatureCache::Forecast(int step) { return ForecastLast(step); }

absl::Status FeatureCache::Observe(int step, const Tensor& first_block_out,
                                   const Tensor& last_block_out) {
  return Record(step, first_block_out, last_block_out);
}

absl::StatusOr<double> FeatureCache::GlobalRelativeL1(const Tensor& estimate, const Tensor& real) {
  REEL_ASSIGN_OR_RETURN(const ops::AbsDiffSums local, ops::SumAbsDiff(estimate, real));
  // f32 on the wire (what every communicator reduces); the ratio is what matters.
  REEL_ASSIGN_OR_RETURN(Tensor sums, Tensor::FromVector({2}, {static_cast<float>(local.diff),
                                                              static_cast<float>(local.ref)}));
  Tensor* one[] = {&sums};
  REEL_RETURN_IF_ERROR(comm_->AllReduceSum(one));
  const float* s = sums.data<float>();
  if (!(s[1] > 0.0f)) return std::numeric_limits<double>::infinity();
  return static_cast<double>(s[0]) / static_cast<double>(s[1]);
}

}  // namespace reel
