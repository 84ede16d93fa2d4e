#pragma once
// Flow-matching noise schedule (pipeline/model/README.md "Sampler"): x_t = (1−σ)·x0 + σ·ε.
#include <vector>

namespace reel {

// σ' = s·σ / (1 + (s−1)·σ): spends more steps at high noise for s > 1.
double ShiftSigma(double sigma, double shift);

// steps + 1 values: σ_i = shift(1 − i/steps) for i < steps, then 0.
std::vector<double> FlowSigmas(int steps, double shift);

}  // namespace reel
