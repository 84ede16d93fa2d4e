// Activations against double-precision closed forms (std::exp/tanh/erf in double).
#include "kernels/cpu/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

// GELU written through exact identities that avoid the cancellation of 1 + tanh/erf for x << 0
// (even double loses most digits there): 0.5 (1 + tanh u) = sigmoid(2u), 1 + erf(z) = erfc(-z).
double Ref(Activation act, double x) {
  switch (act) {
    case Activation::kRelu:
      return x > 0 ? x : 0;
    case Activation::kSilu:
      return x / (1 + std::exp(-x));
    case Activation::kGeluTanh:
      return x / (1 + std::exp(-2 * std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kGeluErf:
      return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
  }
  return 0;
}

TEST(GeluReferenceTest, AgreesWithTextbookFormulaWhereItIsAccurate) {
  for (double x = -3; x <= 3; x += 0.25) {
    EXPECT_NEAR(Ref(Activation::kGeluTanh, x),
                0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))), 1e-12);
    EXPECT_NEAR(Ref(Activation::kGeluErf, x), 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))), 1e-12);
  }
}

// f32 with a vectorized exp: a few ulp, so 1e-5 relative (plus 1e-30 absolute for underflow).
constexpr double kRelTol = 1e-5;

std::vector<float> Inputs(int64_t n, uint32_t seed) {
  auto x = RandomVector(n, seed, -12.0f, 12.0f);
  const float edges[] = {0.0f,  -0.0f,  1e-30f, -1e-30f, 1e-3f,  -1e-3f,
                         30.0f, -30.0f, 80.0f,  -80.0f,  100.0f, -100.0f};
  for (size_t i = 0; i < std::size(edges) && i < x.size(); ++i) x[i] = edges[i];
  return x;
}

class ActivateTest : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivateTest, MatchesDoubleFormula) {
  const Activation act = GetParam();
  for (const int64_t n : {int64_t{1}, int64_t{31}, int64_t{40000}}) {
    const auto x = Inputs(n, static_cast<uint32_t>(n));
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = Ref(act, x[i]);
    std::vector<float> y(n);
    Activate(act, x.data(), y.data(), n);
    ExpectAllNear(y, want, kRelTol, 1e-30, "out of place");
    auto inplace = x;
    Activate(act, inplace.data(), inplace.data(), n);
    ExpectAllNear(inplace, want, kRelTol, 1e-30, "in place");
  }
}

TEST_P(ActivateTest, InfinitiesAndNan) {
  const Activation act = GetParam();
  const float inf = std::numeric_limits<float>::infinity();
  const float x[] = {inf, std::numeric_limits<float>::quiet_NaN()};
  float y[2];
  Activate(act, x, y, 2);
  EXPECT_EQ(y[0], inf);
  EXPECT_TRUE(std::isnan(y[1]));
}

INSTANTIATE_TEST_SUITE_P(All, ActivateTest,
                         ::testing::Values(Activation::kRelu, Activation::kSilu,
                                           Activation::kGeluTanh, Activation::kGeluErf));

TEST(SiluGateTest, MatchesDoubleFormulaOutOfPlaceAndInPlace) {
  struct Case {
    int64_t rows, half;
  };
  for (const Case c : {Case{1, 1}, Case{1, 17}, Case{5, 33}, Case{300, 128}}) {
    const auto x = Inputs(c.rows * 2 * c.half, static_cast<uint32_t>(c.rows * 7 + c.half));
    std::vector<double> want(c.rows * c.half);
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t j = 0; j < c.half; ++j) {
        want[r * c.half + j] =
            double{x[r * 2 * c.half + j]} * Ref(Activation::kSilu, x[r * 2 * c.half + c.half + j]);
      }
    }
    std::vector<float> y(c.rows * c.half);
    SiluGate(x.data(), y.data(), c.rows, c.half);
    ExpectAllNear(y, want, kRelTol, 1e-30, "out of place");
    auto buf = x;  // In place: the result is written over the front of the input.
    SiluGate(buf.data(), buf.data(), c.rows, c.half);
    buf.resize(c.rows * c.half);
    ExpectAllNear(buf, want, kRelTol, 1e-30, "in place");
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
