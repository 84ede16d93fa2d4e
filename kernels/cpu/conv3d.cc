#include "kernels/cpu/conv3d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

// This many floats (16 MiB) bound the im2col buffer: a long chunk is cut into groups of whole
// frames, and a frame too large for it (a 3x3x3 conv of 96 channels at 480x832 needs 4 GiB) into
// bands of rows, so the workspace grows with neither the chunk length nor the resolution.
constexpr int64_t kMaxColumnFloats = int64_t{1} << 22;

// Input frame s (may be negative: then one of the history frames, or zeros) of channel i, or null.
const float* SourceFrame(const float* x, const float* history, int64_t i, int64_t s, int64_t frames,
                         int kt, int64_t hw) {
  if (s >= 0) return x + (i * frames + s) * hw;
  if (history == nullptr) return nullptr;
  return history + (i * (kt - 1) + (s + kt - 1)) * hw;
}

// col (K, g·rows·width) with K = cin·kt·kk·kk in the weight's (i, a, p, q) order, for output rows
// h0..h0+rows−1 of output frames t0..t0+g−1.
void Im2col(const float* x, const float* history, int64_t cin, int64_t frames, int64_t height,
            int64_t width, int kt, int kk, int64_t t0, int64_t g, int64_t h0, int64_t rows,
            float* col) {
  const int64_t hw = height * width, band = rows * width, row_len = g * band;
  const int pad = kk / 2;
  const int64_t work = cin * kt * kk * kk * row_len;
#pragma omp parallel for collapse(2) schedule(static) if (work > internal::kParallelMinWork)
  for (int64_t i = 0; i < cin; ++i) {
    for (int a = 0; a < kt; ++a) {
      for (int64_t j = 0; j < g; ++j) {
        const float* src = SourceFrame(x, history, i, t0 + j + a - (kt - 1), frames, kt, hw);
        for (int p = 0; p < kk; ++p) {
          for (int q = 0; q < kk; ++q) {
            const int64_t r = ((i * kt + a) * kk + p) * kk + q;
            float* dst = col + r * row_len + j * band;
            if (src == nullptr) {
              std::memset(dst, 0, sizeof(float) * band);
              continue;
            }
            if (pad == 0) {
              std::memcpy(dst, src + h0 * width, sizeof(float) * band);
              continue;
            }
            // Output column w reads input column w + q − pad; [lo, hi) are the columns that exist.
            const int64_t lo = std::max<int64_t>(0, pad - q);
            const int64_t hi = std::min<int64_t>(width, width + pad - q);
            for (int64_t h = h0; h < h0 + rows; ++h) {
              float* d = dst + (h - h0) * width;
              const int64_t sh = h + p - pad;
              if (sh < 0 || sh >= height) {
                std::memset(d, 0, sizeof(float) * width);
                continue;
              }
              const float* s = src + sh * width + (q - pad);
              for (int64_t w = 0; w < lo; ++w) d[w] = 0.0f;
              std::memcpy(d + lo, s + lo, sizeof(float) * (hi - lo));
              for (int64_t w = hi; w < width; ++w) d[w] = 0.0f;
            }
          }
        }
      }
    }
  }
}

}  // namespace

void CausalConv3d(const float* x, const float* history, int64_t cin, int64_t frames, int64_t height,
                  int64_t width, const float* weight, const float* bias, int64_t cout, int kt,
                  int kk, float* y) {
  const int64_t hw = height * width, n = frames * hw;
  if (cout <= 0 || n <= 0) return;
  // Bias first, then the GEMMs accumulate (beta = 1).
  for (int64_t o = 0; o < cout; ++o) std::fill(y + o * n, y + (o + 1) * n, bias ? bias[o] : 0.0f);
  const int64_t k = cin * kt * kk * kk;
  if (kt == 1 && kk == 1) {  // pointwise: the input already is the column matrix
    Gemm(false, false, cout, n, cin, 1.0f, weight, cin, x, n, 1.0f, y, n);
    return;
  }
  const int64_t per_frame = k * hw;
  if (per_frame > kMaxColumnFloats) {  // bands of rows of one frame at a time
    const int64_t rows = std::clamp<int64_t>(kMaxColumnFloats / (k * width), 1, height);
    std::vector<float> col(static_cast<size_t>(k * rows * width));
    for (int64_t t = 0; t < frames; ++t) {
      for (int64_t h0 = 0; h0 < height; h0 += rows) {
        const int64_t r = std::min(rows, height - h0);
        Im2col(x, history, cin, frames, height, width, kt, kk, t, 1, h0, r, col.data());
        // Rows h0..h0+r−1 of output frame t of every channel: row stride n.
        Gemm(false, false, cout, r * width, k, 1.0f, weight, k, col.data(), r * width, 1.0f,
             y + t * hw + h0 * width, n);
      }
    }
    return;
  }
  const int64_t group = std::clamp<int64_t>(kMaxColumnFloats / per_frame, 1, frames);
  std::vector<float> col(static_cast<size_t>(per_frame * group));
  for (int64_t t0 = 0; t0 < frames; t0 += group) {
    const int64_t g = std::min(group, frames - t0);
    Im2col(x, history, cin, frames, height, width, kt, kk, t0, g, 0, height, col.data());
    // Output frames t0..t0+g−1 of every channel: rows of length g·hw, row stride n.
    Gemm(false, false, cout, g * hw, k, 1.0f, weight, k, col.data(), g * hw, 1.0f, y + t0 * hw, n);
  }
}

void CausalConv3dReference(const float* x, const float* history, int64_t cin, int64_t frames,
                           int64_t height, int64_t width, const float* weight, const float* bias,
                           int64_t cout, int kt, int kk, float* y) {
  const int64_t hw = height * width;
  const int pad = kk / 2;
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t t = 0; t < frames; ++t) {
      for (int64_t h = 0; h < height; ++h) {
        for (int64_t w = 0; w < width; ++w) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t i = 0; i < cin; ++i) {
            for (int a = 0; a < kt; ++a) {
              const float* src = SourceFrame(x, history, i, t + a - (kt - 1), frames, kt, hw);
              if (src == nullptr) continue;
              for (int p = 0; p < kk; ++p) {
                const int64_t sh = h + p - pad;
                if (sh < 0 || sh >= height) continue;
                for (int q = 0; q < kk; ++q) {
                  const int64_t sw = w + q - pad;
                  if (sw < 0 || sw >= width) continue;
                  acc += static_cast<double>(weight[(((o * cin + i) * kt + a) * kk + p) * kk + q]) *
                         src[sh * width + sw];
                }
              }
            }
          }
          y[((o * frames + t) * height + h) * width + w] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace reel::kernels::cpu
