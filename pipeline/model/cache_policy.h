#pragma once
// The feature-caching hook the DiT forward consults (ARCHITECTURE.md §3). Policies (TaylorSeer,
// confidence-gated Taylor) live in pipeline/cache; the model only knows this interface.
//
// At every forward that has a policy, the first block always runs. Its real output lets a
// confidence-gated policy compare it with its own forecast of that output; when the policy trusts
// its forecast, the remaining blocks are skipped and Forecast() stands in for the last block's
// output; otherwise every block runs and Observe() sees the first and last blocks' outputs.
// Tensors are the token activations (branches·F', H'·W', D) of the call. In block-autoregressive
// generation the step count restarts at 0 for every block, and the state-update pass never
// consults the policy. An error (e.g. a failed reduction of the gate under sequence parallelism)
// fails the forward.
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

class CachePolicy {
 public:
  virtual ~CachePolicy() = default;
  // Whether blocks 1..L-1 must run at `step` (the denoising step of the current block).
  virtual absl::StatusOr<bool> ShouldCompute(int step, const Tensor& first_block_out) = 0;
  // The last block's output at `step`, used when ShouldCompute() said no.
  virtual absl::StatusOr<Tensor> Forecast(int step) = 0;
  // After a step that ran every block.
  virtual absl::Status Observe(int step, const Tensor& first_block_out,
                               const Tensor& last_block_out) = 0;
};

}  // namespace reel
