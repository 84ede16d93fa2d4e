// TaylorForecaster against closed forms: exact on polynomials of its order for any gaps, not on a
// degree higher, and equal to the stored value at the last computed step.
#include "pipeline/cache/taylor_forecaster.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace reel {
namespace {

// A 3-element feature whose elements follow c_e · p(step) with a polynomial p of `degree`.
Tensor Feature(int degree, double step) {
  double p = 0.0;
  for (int k = 0; k <= degree; ++k) p += (0.5 + 0.25 * k) * std::pow(step / 10.0, k);
  return *Tensor::FromVector(
      {3}, {static_cast<float>(p), static_cast<float>(-2.0 * p), static_cast<float>(0.1 * p)});
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  double m = 0.0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(double{x[i]} - double{y[i]}));
  return m;
}

TEST(TaylorForecaster, ExactOnPolynomialsOfItsOrderWithIrregularGaps) {
  const std::vector<int> computed = {0, 1, 3, 4, 7, 11};
  for (int order = 0; order <= 3; ++order) {
    TaylorForecaster f(order);
    for (int s : computed) ASSERT_TRUE(f.Refresh(s, Feature(order, s)).ok());
    EXPECT_EQ(f.available_order(), order);
    for (int target : {12, 13, 16, 20}) {
      EXPECT_LT(MaxAbsDiff(*f.Forecast(target), Feature(order, target)), 2e-5)
          << "order " << order << " at step " << target;
    }
    if (order < 3) {
      // One degree more is not exact: the check above can fail.
      TaylorForecaster g(order);
      for (int s : computed) ASSERT_TRUE(g.Refresh(s, Feature(order + 1, s)).ok());
      EXPECT_GT(MaxAbsDiff(*g.Forecast(16), Feature(order + 1, 16)), 1e-3) << "order " << order;
    }
  }
}

TEST(TaylorForecaster, ReturnsTheLastValueAtItsStepAndNeedsARefresh) {
  TaylorForecaster f(2);
  EXPECT_EQ(f.Forecast(3).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(f.Refresh(2, Feature(3, 2)).ok());
  EXPECT_EQ(f.available_order(), 0);
  EXPECT_EQ(*f.Forecast(9)->ToVector(), *Feature(3, 2).ToVector()) << "one point: a constant";
  ASSERT_TRUE(f.Refresh(5, Feature(3, 5)).ok());
  ASSERT_TRUE(f.Refresh(6, Feature(3, 6)).ok());
  EXPECT_EQ(*f.Forecast(6)->ToVector(), *Feature(3, 6).ToVector());
  // The history interpolates its points: at an earlier computed step the forecast is that value.
  EXPECT_LT(MaxAbsDiff(*f.Forecast(5), Feature(3, 5)), 1e-6);
}

TEST(TaylorForecaster, AStepBackOrANewShapeStartsOver) {
  TaylorForecaster f(1);
  ASSERT_TRUE(f.Refresh(0, Feature(1, 0)).ok());
  ASSERT_TRUE(f.Refresh(1, Feature(1, 1)).ok());
  EXPECT_EQ(f.available_order(), 1);
  ASSERT_TRUE(f.Refresh(0, Feature(1, 7)).ok());  // the next block's first step
  EXPECT_EQ(f.available_order(), 0);
  EXPECT_EQ(*f.Forecast(3)->ToVector(), *Feature(1, 7).ToVector());
  ASSERT_TRUE(f.Refresh(1, *Tensor::FromVector({2}, {1.0f, 2.0f})).ok());
  EXPECT_EQ(f.available_order(), 0);
  EXPECT_EQ(f.Forecast(2)->shape(), (Shape{2}));
}

}  // namespace
}  // namespace reel
