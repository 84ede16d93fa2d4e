// Norms against double-precision row statistics.
#include "kernels/cpu/norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

// LN in double: mean and biased variance per row.
std::vector<double> LayerNormRef(const std::vector<float>& x, int64_t rows, int64_t cols,
                                 double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < cols; ++j) mean += x[r * cols + j];
    mean /= cols;
    for (int64_t j = 0; j < cols; ++j) var += (x[r * cols + j] - mean) * (x[r * cols + j] - mean);
    var /= cols;
    for (int64_t j = 0; j < cols; ++j)
      y[r * cols + j] = (x[r * cols + j] - mean) / std::sqrt(var + eps);
  }
  return y;
}

struct Case {
  int64_t rows, cols;
  float offset;  // Common offset added to every input: tests the mean's numerical robustness.
};
const Case kCases[] = {{1, 1, 0},     {1, 7, 0},         {3, 64, 0},
                       {17, 1152, 0}, {64, 256, 100.0f}, {2, 33, -50.0f}};

// f32 reductions over <= 1152 entries: 1e-5 relative plus 1e-5 absolute (outputs are O(1)).
constexpr double kRelTol = 1e-5, kAbsTol = 1e-5;

TEST(LayerNormTest, WithAndWithoutAffineInPlace) {
  uint32_t seed = 1;
  for (const Case c : kCases) {
    auto x = RandomVector(c.rows * c.cols, ++seed, -2.0f, 2.0f);
    for (float& v : x) v += c.offset;
    const auto gamma = RandomVector(c.cols, ++seed, 0.5f, 1.5f);
    const auto beta = RandomVector(c.cols, ++seed);
    const auto base = LayerNormRef(x, c.rows, c.cols, 1e-6);
    for (int affine = 0; affine < 4; ++affine) {
      const float* g = (affine & 1) ? gamma.data() : nullptr;
      const float* b = (affine & 2) ? beta.data() : nullptr;
      std::vector<double> want(base.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const int64_t j = static_cast<int64_t>(i) % c.cols;
        want[i] = base[i] * (g ? g[j] : 1.0) + (b ? b[j] : 0.0);
      }
      std::vector<float> y(x.size());
      LayerNorm(x.data(), y.data(), c.rows, c.cols, 1e-6f, g, b);
      ExpectAllNear(y, want, kRelTol, kAbsTol, "layernorm");
      auto inplace = x;
      LayerNorm(inplace.data(), inplace.data(), c.rows, c.cols, 1e-6f, g, b);
      EXPECT_EQ(inplace, y) << "in place differs";
    }
  }
}

TEST(LayerNormTest, ConstantRowGivesBetaNotNan) {
  const std::vector<float> x(16, 3.25f);
  std::vector<float> y(16);
  LayerNorm(x.data(), y.data(), 1, 16, 1e-6f, nullptr, nullptr);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(RmsNormTest, WithAndWithoutWeight) {
  uint32_t seed = 50;
  for (const Case c : kCases) {
    const auto x = RandomVector(c.rows * c.cols, ++seed, -3.0f, 3.0f);
    const auto w = RandomVector(c.cols, ++seed, 0.5f, 1.5f);
    for (const float* weight : {static_cast<const float*>(nullptr), w.data()}) {
      std::vector<double> want(x.size());
      for (int64_t r = 0; r < c.rows; ++r) {
        double ms = 0;
        for (int64_t j = 0; j < c.cols; ++j) ms += double{x[r * c.cols + j]} * x[r * c.cols + j];
        const double inv = 1 / std::sqrt(ms / c.cols + 1e-6);
        for (int64_t j = 0; j < c.cols; ++j) {
          want[r * c.cols + j] = x[r * c.cols + j] * inv * (weight ? weight[j] : 1.0);
        }
      }
      std::vector<float> y(x.size());
      RmsNorm(x.data(), y.data(), c.rows, c.cols, 1e-6f, weight);
      ExpectAllNear(y, want, kRelTol, kAbsTol, "rmsnorm");
    }
  }
}

TEST(LayerNormModulateTest, SharedAndPerRowModulation) {
  uint32_t seed = 90;
  for (const Case c : kCases) {
    auto x = RandomVector(c.rows * c.cols, ++seed, -2.0f, 2.0f);
    for (float& v : x) v += c.offset;
    const auto base = LayerNormRef(x, c.rows, c.cols, 1e-6);
    for (const int64_t stride : {int64_t{0}, c.cols, 2 * c.cols + 3}) {
      const int64_t mod_rows = stride == 0 ? 1 : c.rows;
      const auto shift = RandomVector(mod_rows * std::max(stride, c.cols), ++seed);
      const auto scale = RandomVector(mod_rows * std::max(stride, c.cols), ++seed);
      std::vector<double> want(base.size());
      for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t j = 0; j < c.cols; ++j) {
          want[r * c.cols + j] =
              base[r * c.cols + j] * (1.0 + scale[r * stride + j]) + shift[r * stride + j];
        }
      }
      std::vector<float> y(x.size());
      LayerNormModulate(x.data(), y.data(), c.rows, c.cols, 1e-6f, shift.data(), scale.data(),
                        stride);
      ExpectAllNear(y, want, kRelTol, kAbsTol, "modulate");
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
