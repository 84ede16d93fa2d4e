// Depthwise and temporal convolutions against direct double loops over PyTorch's weight layouts.
#include "kernels/cpu/conv.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

TEST(DepthwiseConv2d3x3Test, MatchesDirectLoopWithZeroPadding) {
  struct Case {
    int64_t images, h, w, c;
  };
  uint32_t seed = 1;
  for (const Case s : {Case{1, 1, 1, 1}, Case{1, 1, 5, 3}, Case{2, 3, 5, 17}, Case{1, 6, 1, 4},
                       Case{3, 16, 16, 64}}) {
    const auto x = RandomVector(s.images * s.h * s.w * s.c, ++seed);
    const auto weight = RandomVector(s.c * 9, ++seed);
    const auto bias = RandomVector(s.c, ++seed);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      std::vector<double> want(x.size());
      for (int64_t n = 0; n < s.images; ++n) {
        for (int64_t y = 0; y < s.h; ++y) {
          for (int64_t xx = 0; xx < s.w; ++xx) {
            for (int64_t ch = 0; ch < s.c; ++ch) {
              double acc = b ? b[ch] : 0.0;
              for (int64_t ky = 0; ky < 3; ++ky) {
                for (int64_t kx = 0; kx < 3; ++kx) {
                  const int64_t iy = y + ky - 1, ix = xx + kx - 1;
                  if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                  acc += double{weight[ch * 9 + ky * 3 + kx]} *
                         x[((n * s.h + iy) * s.w + ix) * s.c + ch];
                }
              }
              want[((n * s.h + y) * s.w + xx) * s.c + ch] = acc;
            }
          }
        }
      }
      std::vector<float> out(x.size());
      DepthwiseConv2d3x3(x.data(), weight.data(), b, out.data(), s.images, s.h, s.w, s.c);
      ExpectAllNear(out, want, 1e-5, 1e-6, b ? "with bias" : "no bias");
    }
  }
}

struct TemporalCase {
  int64_t history_frames, frames, spatial, cin, cout;
  int pad_front;
  bool accumulate;
};

TEST(TemporalConv3Test, CausalAndCenteredWithHistoryAndAccumulation) {
  uint32_t seed = 100;
  std::vector<TemporalCase> cases;
  for (const int pad : {1, 2}) {
    for (const int64_t hist : {0, 1, 2, 3}) {
      for (const int64_t frames : {1, 2, 5}) {
        cases.push_back({hist, frames, 3, 5, 7, pad, (hist + frames) % 2 == 0});
      }
    }
  }
  cases.push_back({2, 4, 64, 32, 48, 2, true});
  for (const TemporalCase c : cases) {
    const auto x = RandomVector(c.frames * c.spatial * c.cin, ++seed);
    const auto history = RandomVector(c.history_frames * c.spatial * c.cin, ++seed);
    const auto weight = RandomVector(c.cout * c.cin * 3, ++seed);  // (cout, cin, 3, 1).
    auto y = RandomVector(c.frames * c.spatial * c.cout, ++seed);
    std::vector<double> want(y.size());
    for (int64_t f = 0; f < c.frames; ++f) {
      for (int64_t s = 0; s < c.spatial; ++s) {
        for (int64_t o = 0; o < c.cout; ++o) {
          double acc = c.accumulate ? y[(f * c.spatial + s) * c.cout + o] : 0.0;
          for (int64_t t = 0; t < 3; ++t) {
            const int64_t src = f + t - c.pad_front;  // Relative to x's first frame.
            const float* frame = nullptr;
            if (src >= 0 && src < c.frames) frame = x.data() + src * c.spatial * c.cin;
            if (src < 0 && -src <= c.history_frames) {
              frame = history.data() + (c.history_frames + src) * c.spatial * c.cin;
            }
            if (frame == nullptr) continue;  // Zero padding.
            for (int64_t i = 0; i < c.cin; ++i) {
              acc += double{weight[(o * c.cin + i) * 3 + t]} * frame[s * c.cin + i];
            }
          }
          want[(f * c.spatial + s) * c.cout + o] = acc;
        }
      }
    }
    TemporalConv3(x.data(), c.history_frames ? history.data() : nullptr, c.history_frames, c.frames,
                  c.spatial, c.cin, weight.data(), c.cout, c.pad_front, c.accumulate, y.data());
    ExpectAllNear(y, want, 1e-5, 1e-5, "temporal conv");
    if (HasFailure()) {
      FAIL() << "history " << c.history_frames << " frames " << c.frames << " pad " << c.pad_front
             << " accumulate " << c.accumulate;
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
