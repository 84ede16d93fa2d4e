#include "pipeline/cache/confidence_gated_taylor.h"

#include "pipeline/tensor/status_macros.h"

namespace reel {

void ConfidenceGatedTaylor::Reset() {
  first_.Reset();
  last_.Reset();
}

absl::StatusOr<bool> ConfidenceGatedTaylor::Trust(int step, const Tensor& first_block_out) {
  REEL_ASSIGN_OR_RETURN(Tensor predicted, first_.Forecast(step));
  if (predicted.shape() != first_block_out.shape()) return false;
  REEL_ASSIGN_OR_RETURN(last_error_, GlobalRelativeL1(predicted, first_block_out));
  return last_error_ < options().threshold;  // strict: threshold 0 never skips
}

absl::Status ConfidenceGatedTaylor::Record(int step, const Tensor& first_block_out,
                                           const Tensor& last_block_out) {
  REEL_RETURN_IF_ERROR(first_.Refresh(step, first_block_out));
  return last_.Refresh(step, last_block_out);
}

}  // namespace reel
