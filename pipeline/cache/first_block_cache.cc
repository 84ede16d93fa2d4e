#include "pipeline/cache/first_block_cache.h"

#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

void FirstBlockCache::Reset() {
  recorded_ = false;
  trusted_ = false;
}

absl::StatusOr<bool> FirstBlockCache::Trust(int, const Tensor& first_block_out) {
  if (first_block_out.shape() != first_then_.shape()) return false;
  REEL_ASSIGN_OR_RETURN(const double change, GlobalRelativeL1(first_block_out, first_then_));
  if (!(change < options().threshold)) return false;
  REEL_ASSIGN_OR_RETURN(first_now_, first_block_out.Clone());
  trusted_ = true;
  return true;
}

absl::StatusOr<Tensor> FirstBlockCache::ForecastLast(int) {
  if (!trusted_) {
    return absl::FailedPreconditionError("FirstBlockCache: Forecast without a trusted step");
  }
  trusted_ = false;
  return ops::Add(first_now_, residual_);
}

absl::Status FirstBlockCache::Record(int, const Tensor& first_block_out,
                                     const Tensor& last_block_out) {
  REEL_ASSIGN_OR_RETURN(first_then_, first_block_out.Clone());
  REEL_ASSIGN_OR_RETURN(residual_, ops::Sub(last_block_out, first_block_out));
  recorded_ = true;
  return absl::OkStatus();
}

}  // namespace reel
