#pragma once
// Flow-matching ODE solvers over a fixed σ schedule. A solver is created per trajectory (one block
// of frames) because multistep methods remember the previous data prediction.
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

class FlowSolver {
 public:
  virtual ~FlowSolver() = default;
  // Advances x in place from σ_i to σ_{i+1} given the velocity v predicted at (x, σ_i).
  virtual absl::Status Step(int i, const Tensor& v, Tensor& x) = 0;
  int steps() const { return static_cast<int>(sigmas_.size()) - 1; }
  double sigma(int i) const { return sigmas_[i]; }
  // The timestep the model sees at step i: 1000·σ_i, or the schedule's own (diffusers' integer
  // timesteps).
  double timestep(int i) const { return timesteps_.empty() ? 1000.0 * sigmas_[i] : timesteps_[i]; }
  void set_timesteps(std::vector<double> timesteps) { timesteps_ = std::move(timesteps); }

 protected:
  explicit FlowSolver(std::vector<double> sigmas) : sigmas_(std::move(sigmas)) {}
  std::vector<double> sigmas_;
  std::vector<double> timesteps_;
};

// "euler" or "dpm++2m"; unknown names are INVALID_ARGUMENT. num_train_timesteps > 0: diffusers'
// flow-sigma schedule (schedule.h DiffusersFlowSigmas) instead of reel's; dpm++2m then computes
// diffusers' DPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint, first order on the
// first and the last step).
absl::StatusOr<std::unique_ptr<FlowSolver>> MakeFlowSolver(std::string_view name, int steps,
                                                           double shift,
                                                           int num_train_timesteps = 0);

// Classifier-free guidance: v = v_u + g·(v_c − v_u), written into v_cond.
absl::Status CombineGuidance(const Tensor& v_uncond, double scale, Tensor& v_cond);

}  // namespace reel
