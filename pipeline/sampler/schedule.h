#pragma once
// Flow-matching noise schedule (pipeline/model/README.md "Sampler"): x_t = (1−σ)·x0 + σ·ε.
#include <vector>

namespace reel {

// σ' = s·σ / (1 + (s−1)·σ): spends more steps at high noise for s > 1.
double ShiftSigma(double sigma, double shift);

// steps + 1 values: σ_i = shift(1 − i/steps) for i < steps, then 0.
std::vector<double> FlowSigmas(int steps, double shift);

// diffusers' DPMSolverMultistepScheduler.set_timesteps with use_flow_sigmas and final_sigmas_type
// "zero": σ_i = shift((1 − 1/T)(1 − i/steps)) for i < steps, stored as f32, then 0; T =
// num_train_timesteps. The model sees timestep ⌊T·σ_i⌋ (the scheduler's int64 timesteps, taken
// from the f64 σ before rounding).
struct DiffusersFlowSchedule {
  std::vector<double> sigmas;     // steps + 1
  std::vector<double> timesteps;  // steps
};
DiffusersFlowSchedule DiffusersFlowSigmas(int steps, double shift, int num_train_timesteps);

}  // namespace reel
