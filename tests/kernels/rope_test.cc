// Interleaved RoPE against the rotation written out in double, plus its norm-preserving invariant;
// rotate-half RoPE against the interleaved one on de-interleaved columns (the same rotation).
#include "kernels/cpu/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

// cos and sin of n random angles in [-10, 10].
std::pair<std::vector<float>, std::vector<float>> RandomAngles(int64_t n, uint32_t seed) {
  const auto angle = RandomVector(n, seed, -10.0f, 10.0f);
  std::vector<float> cs(n), sn(n);
  for (int64_t i = 0; i < n; ++i) {
    cs[i] = std::cos(angle[i]);
    sn[i] = std::sin(angle[i]);
  }
  return {cs, sn};
}

TEST(RopeApplyTest, RotatesPairsPerRowSameAngleForEveryHead) {
  struct Case {
    int64_t rows, heads, d;
  };
  uint32_t seed = 1;
  for (const Case c : {Case{1, 1, 2}, Case{3, 2, 6}, Case{17, 4, 32}, Case{256, 8, 64}}) {
    const int64_t w = c.heads * c.d, half = c.d / 2;
    const auto x = RandomVector(c.rows * w, ++seed);
    const auto [cs, sn] = RandomAngles(c.rows * half, ++seed);
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t h = 0; h < c.heads; ++h) {
        for (int64_t j = 0; j < half; ++j) {
          const double a = x[r * w + h * c.d + 2 * j], b = x[r * w + h * c.d + 2 * j + 1];
          const double co = cs[r * half + j], si = sn[r * half + j];
          want[r * w + h * c.d + 2 * j] = a * co - b * si;
          want[r * w + h * c.d + 2 * j + 1] = a * si + b * co;
        }
      }
    }
    std::vector<float> y(x.size());
    RopeApply(x.data(), y.data(), c.rows, c.heads, c.d, cs.data(), sn.data());
    ExpectAllNear(y, want, 1e-6, 1e-6, "rope");
    // A rotation keeps each pair's length.
    for (size_t i = 0; i + 1 < x.size(); i += 2) {
      ASSERT_NEAR(std::hypot(y[i], y[i + 1]), std::hypot(x[i], x[i + 1]), 1e-5);
    }
    auto inplace = x;
    RopeApply(inplace.data(), inplace.data(), c.rows, c.heads, c.d, cs.data(), sn.data());
    EXPECT_EQ(inplace, y) << "in place differs";
  }
}

// Rotate-half pairs column j with j + d/2; moving column j to 2j and j + d/2 to 2j + 1 turns it
// into the interleaved rotation, so RopeApply on the moved columns is an independent oracle.
TEST(RopeApplyHalfTest, EqualsInterleavedRopeOnDeinterleavedColumns) {
  struct Case {
    int64_t rows, heads, d;
  };
  uint32_t seed = 100;
  for (const Case c : {Case{1, 1, 2}, Case{5, 2, 24}, Case{33, 4, 64}}) {
    const int64_t w = c.heads * c.d, half = c.d / 2;
    const auto x = RandomVector(c.rows * w, ++seed);
    const auto [cs, sn] = RandomAngles(c.rows * half, ++seed);
    auto moved = x;
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t h = 0; h < c.heads; ++h) {
        const int64_t base = r * w + h * c.d;
        for (int64_t j = 0; j < half; ++j) {
          moved[base + 2 * j] = x[base + j];
          moved[base + 2 * j + 1] = x[base + j + half];
        }
      }
    }
    std::vector<float> rotated(x.size());
    RopeApply(moved.data(), rotated.data(), c.rows, c.heads, c.d, cs.data(), sn.data());
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t h = 0; h < c.heads; ++h) {
        const int64_t base = r * w + h * c.d;
        for (int64_t j = 0; j < half; ++j) {
          want[base + j] = rotated[base + 2 * j];
          want[base + j + half] = rotated[base + 2 * j + 1];
        }
      }
    }
    std::vector<float> y(x.size());
    RopeApplyHalf(x.data(), y.data(), c.rows, c.heads, c.d, cs.data(), sn.data());
    ExpectAllNear(y, want, 1e-6, 1e-6, "rope half");
    auto inplace = x;
    RopeApplyHalf(inplace.data(), inplace.data(), c.rows, c.heads, c.d, cs.data(), sn.data());
    EXPECT_EQ(inplace, y) << "in place differs";
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
