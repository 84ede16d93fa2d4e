#include "kernels/cpu/conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// acc[c] += w[c] * x[c] over the channel vector (channels-last makes every tap a contiguous axpy).
REEL_CPU_MULTIVERSION void DepthwiseRow(const float* x, const float* taps, const float* bias,
                                        float* y, int64_t h, int64_t w, int64_t c, int64_t row) {
  float* out = y;
  for (int64_t col = 0; col < w; ++col) {
    float* o = out + col * c;
    if (bias != nullptr) {
      std::memcpy(o, bias, c * sizeof(float));
    } else {
      std::fill(o, o + c, 0.0f);
    }
    for (int64_t ky = 0; ky < 3; ++ky) {
      const int64_t iy = row + ky - 1;
      if (iy < 0 || iy >= h) continue;
      for (int64_t kx = 0; kx < 3; ++kx) {
        const int64_t ix = col + kx - 1;
        if (ix < 0 || ix >= w) continue;
        const float* in = x + (iy * w + ix) * c;
        const float* t = taps + (ky * 3 + kx) * c;
#pragma omp simd
        for (int64_t ch = 0; ch < c; ++ch) o[ch] += t[ch] * in[ch];
      }
    }
  }
}

}  // namespace

void DepthwiseConv2d3x3(const float* x, const float* weight, const float* bias, float* y,
                        int64_t images, int64_t h, int64_t w, int64_t c) {
  // (c, 3, 3) -> (9, c): each tap's weights become one contiguous channel vector.
  std::vector<float> taps(9 * c);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t t = 0; t < 9; ++t) taps[t * c + ch] = weight[ch * 9 + t];
  }
  const int64_t rows = images * h;
#pragma omp parallel for if (rows * w * c * 9 >= kParallelMinWork && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t image = r / h, row = r % h;
    DepthwiseRow(x + image * h * w * c, taps.data(), bias, y + r * w * c, h, w, c, row);
  }
}

void TemporalConv3(const float* x, const float* history, int64_t history_frames, int64_t frames,
                   int64_t spatial, int64_t cin, const float* weight, int64_t cout, int pad_front,
                   bool accumulate, float* y) {
  if (frames <= 0) return;
  // Weight (cout, cin, 3) -> per tap (cout, cin) contiguous, used as op(B) = W_k^T.
  std::vector<float> wk(3 * cout * cin);
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t i = 0; i < cin; ++i) {
      for (int64_t t = 0; t < 3; ++t) wk[(t * cout + o) * cin + i] = weight[(o * cin + i) * 3 + t];
    }
  }
  const int64_t frame_in = spatial * cin, frame_out = spatial * cout;
  // Tap pad_front reads x[f] for every output frame f, so it initializes (or accumulates into) all
  // of y in one GEMM; the other taps add the frames that exist (x or history), zeros elsewhere.
  Gemm(false, true, frames * spatial, cout, cin, 1.0f, x, cin, wk.data() + pad_front * cout * cin,
       cin, accumulate ? 1.0f : 0.0f, y, cout);
  for (int64_t t = 0; t < 3; ++t) {
    if (t == pad_front) continue;
    const int64_t shift = t - pad_front;  // Output frame f reads input frame f + shift of x.
    const float* w_t = wk.data() + t * cout * cin;
    // Frames of y whose source lies inside x: f + shift in [0, frames).
    const int64_t f0 = std::max<int64_t>(0, -shift), f1 = std::min<int64_t>(frames, frames - shift);
    if (f1 > f0) {
      Gemm(false, true, (f1 - f0) * spatial, cout, cin, 1.0f, x + (f0 + shift) * frame_in, cin, w_t,
           cin, 1.0f, y + f0 * frame_out, cout);
    }
    // Frames whose source precedes x: f + shift in [-history_frames, 0).
    if (history != nullptr && history_frames > 0 && shift < 0) {
      const int64_t g0 = std::max<int64_t>(0, -history_frames - shift);
      const int64_t g1 = std::min<int64_t>(frames, -shift);
      if (g1 > g0) {
        Gemm(false, true, (g1 - g0) * spatial, cout, cin, 1.0f,
             history + (history_frames + g0 + shift) * frame_in, cin, w_t, cin, 1.0f,
             y + g0 * frame_out, cout);
      }
    }
  }
}

}  // namespace reel::kernels::cpu
