#include "pipeline/parallel/communicator.h"

namespace reel {

absl::Status LocalCommunicator::AllReduceSum(absl::Span<Tensor* const> tensors) {
  for (const Tensor* t : tensors) {
    // The checks a real backend needs (it reduces raw f32 buffers), so that a caller that works
    // locally also works on NCCL/Gloo.
    if (t == nullptr || t->dtype() != DType::kF32 || !t->is_contiguous()) {
      return absl::InvalidArgumentError("AllReduceSum: tensors must be contiguous f32");
    }
  }
  return absl::OkStatus();
}

Communicator& ParallelContext::communicator() const {
  static LocalCommunicator local;  // stateless
  return comm != nullptr ? *comm : local;
}

}  // namespace reel
