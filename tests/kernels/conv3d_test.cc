// CausalConv3d (im2col + GEMM) against CausalConv3dReference (a direct double-accumulation loop
// over the VAE.md formula), and the streaming identity: a video convolved in two chunks, the second
// with the first's last kt−1 frames as history, equals the whole video convolved at once.
#include "kernels/cpu/conv3d.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

struct Case {
  int64_t cin, cout, frames, height, width;
  int kt, kk;
  bool history, bias;
};

std::vector<double> ToDouble(const std::vector<float>& v) { return {v.begin(), v.end()}; }

void CheckCase(const Case& c, uint32_t seed) {
  const std::string what = "cin " + std::to_string(c.cin) + " cout " + std::to_string(c.cout) +
                           " T " + std::to_string(c.frames) + " " + std::to_string(c.height) + "x" +
                           std::to_string(c.width) + " kt " + std::to_string(c.kt) + " kk " +
                           std::to_string(c.kk) + " history " + std::to_string(c.history) +
                           " bias " + std::to_string(c.bias);
  const int64_t hw = c.height * c.width;
  const std::vector<float> x = RandomVector(c.cin * c.frames * hw, seed);
  const std::vector<float> w = RandomVector(c.cout * c.cin * c.kt * c.kk * c.kk, seed + 1);
  const std::vector<float> b = RandomVector(c.cout, seed + 2);
  const std::vector<float> hist = RandomVector(c.cin * (c.kt - 1) * hw, seed + 3);
  const float* hp = c.history && c.kt > 1 ? hist.data() : nullptr;
  const float* bp = c.bias ? b.data() : nullptr;
  std::vector<float> got(c.cout * c.frames * hw, 123.0f), want(got.size());
  CausalConv3d(x.data(), hp, c.cin, c.frames, c.height, c.width, w.data(), bp, c.cout, c.kt, c.kk,
               got.data());
  CausalConv3dReference(x.data(), hp, c.cin, c.frames, c.height, c.width, w.data(), bp, c.cout,
                        c.kt, c.kk, want.data());
  ExpectAllNear(got, ToDouble(want), 1e-5, 1e-4, what.c_str());
}

TEST(CausalConv3dTest, MatchesReferenceOnRandomShapes) {
  uint32_t seed = 1;
  for (int kt : {1, 3}) {
    for (int kk : {1, 3}) {
      for (bool history : {false, true}) {
        CheckCase({3, 5, 4, 6, 7, kt, kk, history, true}, seed += 10);
        CheckCase({8, 16, 1, 4, 4, kt, kk, history, false}, seed += 10);
        CheckCase({1, 2, 2, 1, 1, kt, kk, history, true}, seed += 10);  // 1x1 image: all padding
        CheckCase({16, 8, 3, 9, 5, kt, kk, history, true}, seed += 10);
        CheckCase({4, 3, 5, 2, 11, kt, kk, history, true}, seed += 10);
      }
    }
  }
}

// 16 channels at 64x64 with a 3x3x3 kernel fill the im2col workspace after 2 frames, so 5 frames
// run in three groups: the group boundaries must not change the result.
TEST(CausalConv3dTest, MatchesReferenceAcrossFrameGroups) {
  CheckCase({16, 4, 5, 64, 64, 3, 3, true, true}, 99);
}

// One frame of 16 channels at 100x121 with a 3x3x3 kernel needs more columns than the workspace
// holds, so each frame runs in bands of rows (80 rows, then 20): band edges must not change the
// result, including the rows whose 3x3 window straddles two bands. kt 1 and kk 1 rows too.
TEST(CausalConv3dTest, MatchesReferenceAcrossRowBands) {
  CheckCase({16, 3, 2, 100, 121, 3, 3, true, true}, 7);
  CheckCase({16, 3, 2, 100, 121, 3, 3, false, true}, 8);
  CheckCase({48, 2, 1, 100, 121, 1, 3, false, true}, 9);
  CheckCase({150, 2, 1, 100, 121, 3, 1, true, true}, 10);
}

TEST(CausalConv3dTest, ChunkedWithHistoryEqualsWhole) {
  const int64_t cin = 6, cout = 4, frames = 7, height = 5, width = 6, hw = height * width;
  for (int kk : {1, 3}) {
    const std::vector<float> x = RandomVector(cin * frames * hw, 7);
    const std::vector<float> w = RandomVector(cout * cin * 3 * kk * kk, 8);
    const std::vector<float> b = RandomVector(cout, 9);
    std::vector<float> whole(cout * frames * hw);
    CausalConv3d(x.data(), nullptr, cin, frames, height, width, w.data(), b.data(), cout, 3, kk,
                 whole.data());
    for (int64_t split : {1, 2, 4, 6}) {
      // Chunk frames [0, split) and [split, frames), channels-first: copy each channel's frame
      // range.
      auto frames_of = [&](const std::vector<float>& src, int64_t ch, int64_t total, int64_t t0,
                           int64_t t1) {
        std::vector<float> out;
        for (int64_t i = 0; i < ch; ++i) {
          out.insert(out.end(), src.begin() + (i * total + t0) * hw,
                     src.begin() + (i * total + t1) * hw);
        }
        return out;
      };
      const std::vector<float> first = frames_of(x, cin, frames, 0, split);
      const std::vector<float> second = frames_of(x, cin, frames, split, frames);
      // History = the 2 frames before `split` (zeros where the video has none).
      std::vector<float> history(cin * 2 * hw, 0.0f);
      for (int64_t i = 0; i < cin; ++i) {
        for (int64_t a = 0; a < 2; ++a) {
          const int64_t s = split - 2 + a;
          if (s < 0) continue;
          std::copy(x.begin() + (i * frames + s) * hw, x.begin() + (i * frames + s + 1) * hw,
                    history.begin() + (i * 2 + a) * hw);
        }
      }
      std::vector<float> y1(cout * split * hw), y2(cout * (frames - split) * hw);
      CausalConv3d(first.data(), nullptr, cin, split, height, width, w.data(), b.data(), cout, 3,
                   kk, y1.data());
      CausalConv3d(second.data(), history.data(), cin, frames - split, height, width, w.data(),
                   b.data(), cout, 3, kk, y2.data());
      std::vector<float> joined;
      for (int64_t o = 0; o < cout; ++o) {
        joined.insert(joined.end(), y1.begin() + o * split * hw, y1.begin() + (o + 1) * split * hw);
        joined.insert(joined.end(), y2.begin() + o * (frames - split) * hw,
                      y2.begin() + (o + 1) * (frames - split) * hw);
      }
      ExpectAllNear(joined, ToDouble(whole), 0.0, 1e-5,
                    ("kk " + std::to_string(kk) + " split " + std::to_string(split)).c_str());
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
