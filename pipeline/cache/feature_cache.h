#pragma once
// The common part of every feature-caching policy (ARCHITECTURE.md §3, issue "feature caching"):
// the schedule (warm-up, forced final step, a cap on consecutive skips, a new history for every
// block of block-autoregressive generation), the counters a job reports, and the gate's relative
// L1 error reduced over the ranks of a sequence-parallel group, so that every rank decides alike.
//
// Tensors are the forward's token activations (branches·F', tokens, D). With classifier-free
// guidance both branches are one batched tensor, so every history below is kept per branch
// element-wise, and a gate's error is taken over both branches jointly (as CG-Taylor's DiT code).
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/cache/cache_options.h"
#include "pipeline/model/cache_policy.h"
#include "pipeline/parallel/communicator.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct CacheStats {
  int64_t forwards_computed = 0;  // denoising forwards that ran every block
  int64_t forwards_skipped = 0;   // forwards that ran block 0 and used the forecast
  // Transformer-block evaluations: a skipped forward computes 1 of L and skips L − 1.
  int64_t block_forwards_computed = 0;
  int64_t block_forwards_skipped = 0;
};

class FeatureCache : public CachePolicy {
 public:
  // `steps`: denoising steps per block (the schedule's length); `num_layers`: blocks of the DiT;
  // `comm`: the sequence-parallel group the gate's error is reduced over (not owned).
  FeatureCache(const CacheOptions& options, int steps, int num_layers, Communicator& comm);

  absl::StatusOr<bool> ShouldCompute(int step, const Tensor& first_block_out) final;
  absl::StatusOr<Tensor> Forecast(int step) final;
  absl::Status Observe(int step, const Tensor& first_block_out, const Tensor& last_block_out) final;

  const CacheOptions& options() const { return options_; }
  const CacheStats& stats() const { return stats_; }

 protected:
  // Forget every history (a new block's trajectory starts).
  virtual void Reset() = 0;
  // Whether the history can stand in for the blocks at all (e.g. something was recorded).
  virtual bool CanForecast() const = 0;
  // The policy's own decision at a step the schedule allows to skip: true trusts the forecast.
  virtual absl::StatusOr<bool> Trust(int step, const Tensor& first_block_out) = 0;
  // The last block's output at a trusted step.
  virtual absl::StatusOr<Tensor> ForecastLast(int step) = 0;
  // After a step that ran every block.
  virtual absl::Status Record(int step, const Tensor& first_block_out,
                              const Tensor& last_block_out) = 0;

  // Σ|estimate − real| / Σ|real| over every rank's share (sums, not means: bands differ in size).
  // +inf when the real feature is all zeros, so that no gate trusts it.
  absl::StatusOr<double> GlobalRelativeL1(const Tensor& estimate, const Tensor& real);

 private:
  CacheOptions options_;
  int steps_;
  int num_layers_;
  Communicator* comm_;
  CacheStats stats_;
  int last_step_ = -1;
  int consecutive_skips_ = 0;
};

}  // namespace reel
