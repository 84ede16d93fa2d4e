#pragma once
#include <cstdint>

namespace reel::kernels::cpu {

// Interleaved rotary embedding: for each row r and head h, pairs (2j, 2j+1) of the head's d columns
// rotate by angle[r, j] (the same for every head): out[2j] = x[2j]cos - x[2j+1]sin, out[2j+1] =
// x[2j]sin + x[2j+1]cos. x, y (rows, heads*d); cos/sin (rows, d/2). x and y may alias.
void RopeApply(const float* x, float* y, int64_t rows, int64_t heads, int64_t d, const float* cos,
               const float* sin);

// Rotate-half rotary embedding (transformers' Llama/Gemma convention): column j of a head pairs
// with column j + d/2 and rotates by angle[r, j]: out[j] = x[j]cos - x[j+d/2]sin, out[j+d/2] =
// x[j+d/2]cos + x[j]sin. Same layout and tables as RopeApply; x and y may alias.
void RopeApplyHalf(const float* x, float* y, int64_t rows, int64_t heads, int64_t d,
                   const float* cos, const float* sin);

}  // namespace reel::kernels::cpu
