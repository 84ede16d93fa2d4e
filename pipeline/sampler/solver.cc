#include "pipeline/sampler/solver.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "pipeline/sampler/schedule.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

class EulerSolver final : public FlowSolver {
 public:
  explicit EulerSolver(std::vector<double> sigmas) : FlowSolver(std::move(sigmas)) {}
  absl::Status Step(int i, const Tensor& v, Tensor& x) override {
    return ops::Axpby(static_cast<float>(sigmas_[i + 1] - sigmas_[i]), v, 1.0f, x);
  }
};

// DPM-Solver++ 2M in data prediction (x̂0 = x − σ v), with α = 1 − σ and λ = ln(α/σ).
class DpmSolver2M final : public FlowSolver {
 public:
  explicit DpmSolver2M(std::vector<double> sigmas) : FlowSolver(std::move(sigmas)) {}

  absl::Status Step(int i, const Tensor& v, Tensor& x) override {
    const double s0 = sigmas_[i], s1 = sigmas_[i + 1];
    // x̂0 = x − σ_i v
    REEL_ASSIGN_OR_RETURN(Tensor x0, x.Clone());
    REEL_RETURN_IF_ERROR(ops::Axpby(static_cast<float>(-s0), v, 1.0f, x0));
    const double h = Lambda(s1) - Lambda(s0);  // +inf when s0 = 1 or s1 = 0
    const bool second_order = i >= 1 && prev_x0_.defined() && sigmas_[i - 1] < 1.0 && s1 > 0.0;
    Tensor d = x0;
    if (second_order) {
      const double r = (Lambda(s0) - Lambda(sigmas_[i - 1])) / h;
      REEL_ASSIGN_OR_RETURN(d, x0.Clone());
      // D = (1 + 1/(2r))·x̂0_i − (1/(2r))·x̂0_{i−1}
      REEL_RETURN_IF_ERROR(
          ops::Axpby(static_cast<float>(-0.5 / r), prev_x0_, static_cast<float>(1.0 + 0.5 / r), d));
    }
    // x_{i+1} = (σ_{i+1}/σ_i)·x_i − α_{i+1}·(e^{−h} − 1)·D; e^{−∞} = 0 covers σ_i = 1 and σ_{i+1} =
    // 0.
    const double alpha1 = 1.0 - s1;
    const double em1 = std::isinf(h) ? -1.0 : std::expm1(-h);
    REEL_RETURN_IF_ERROR(
        ops::Axpby(static_cast<float>(-alpha1 * em1), d, static_cast<float>(s1 / s0), x));
    prev_x0_ = std::move(x0);
    return absl::OkStatus();
  }

 private:
  static double Lambda(double sigma) {
    if (sigma <= 0.0) return std::numeric_limits<double>::infinity();
    if (sigma >= 1.0) return -std::numeric_limits<double>::infinity();
    return std::log((1.0 - sigma) / sigma);
  }
  Tensor prev_x0_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FlowSolver>> MakeFlowSolver(std::string_view name, int steps,
                                                           double shift, int num_train_timesteps) {
  if (steps <= 0)
    return absl::InvalidArgumentError(absl::StrCat("steps must be positive, got ", steps));
  if (!(shift > 0)) return absl::InvalidArgumentError("flow shift must be positive");
  if (num_train_timesteps < 0) return absl::InvalidArgumentError("num_train_timesteps < 0");
  std::vector<double> sigmas, timesteps;
  if (num_train_timesteps > 0) {
    DiffusersFlowSchedule s = DiffusersFlowSigmas(steps, shift, num_train_timesteps);
    sigmas = std::move(s.sigmas);
    timesteps = std::move(s.timesteps);
  } else {
    sigmas = FlowSigmas(steps, shift);
  }
  std::unique_ptr<FlowSolver> solver;
  if (name == "euler") solver = std::make_unique<EulerSolver>(std::move(sigmas));
  if (name == "dpm++2m") solver = std::make_unique<DpmSolver2M>(std::move(sigmas));
  if (solver != nullptr) {
    solver->set_timesteps(std::move(timesteps));
    return solver;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown sampler '", std::string(name), "': expected euler or dpm++2m"));
}

absl::Status CombineGuidance(const Tensor& v_uncond, double scale, Tensor& v_cond) {
  // v_c ← g·v_c + (1 − g)·v_u
  return ops::Axpby(static_cast<float>(1.0 - scale), v_uncond, static_cast<float>(scale), v_cond);
}

}  // namespace reel
