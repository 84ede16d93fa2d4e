#pragma once
#include <cstdint>

namespace reel::kernels::cpu {

// Interleaved rotary embedding: for each row r and head h, pairs (2j, 2j+1) of the head's d columns rotate by
// angle[r, j] (the same for every head): out[2j] = x[2j]cos - x[2j+1]sin, out[2j+1] = x[2j]sin + x[2j+1]cos.
// x, y (rows, heads*d); cos/sin (rows, d/2). x and y may alias.
void RopeApply(const float* x, float* y, int64_t rows, int64_t heads, int64_t d, const float* cos,
               const float* sin);

}  // namespace reel::kernels::cpu
