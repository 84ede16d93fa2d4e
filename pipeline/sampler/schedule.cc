#include "pipeline/sampler/schedule.h"

#include <cmath>

namespace reel {

double ShiftSigma(double sigma, double shift) {
  return shift * sigma / (1.0 + (shift - 1.0) * sigma);
}

std::vector<double> FlowSigmas(int steps, double shift) {
  std::vector<double> sigmas(steps + 1, 0.0);
  for (int i = 0; i < steps; ++i)
    sigmas[i] = ShiftSigma(1.0 - static_cast<double>(i) / steps, shift);
  return sigmas;
}

DiffusersFlowSchedule DiffusersFlowSigmas(int steps, double shift, int num_train_timesteps) {
  DiffusersFlowSchedule s;
  const double top = 1.0 - 1.0 / num_train_timesteps;
  for (int i = 0; i < steps; ++i) {
    // numpy's linspace(1, 1/T, steps + 1) reversed: u_i = 1 − α_{steps−i}.
    const double u = top * (1.0 - static_cast<double>(i) / steps);
    const double sigma = ShiftSigma(u, shift);
    s.sigmas.push_back(static_cast<float>(sigma));
    s.timesteps.push_back(std::trunc(sigma * num_train_timesteps));
  }
  s.sigmas.push_back(0.0);
  return s;
}

}  // namespace reel
