#pragma once
#include <cstdint>

namespace reel::kernels::cpu {

enum class Activation { kRelu, kSilu, kGeluTanh, kGeluErf };

// y[i] = act(x[i]); x and y may alias.
void Activate(Activation act, const float* x, float* y, int64_t n);

// GLU gate used by Mix-FFN: for each of `rows` rows of width 2*half, y[r, j] = x[r, j] * silu(x[r, half + j]).
void SiluGate(const float* x, float* y, int64_t rows, int64_t half);

}  // namespace reel::kernels::cpu
