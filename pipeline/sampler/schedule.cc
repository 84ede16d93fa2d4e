#include "pipeline/sampler/schedule.h"

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

}  // namespace reel
