// Sampler pieces against closed forms: the schedule, Euler/DPM on exact flows, Philox known
// answers.
#include <cmath>

#include "gtest/gtest.h"
#include "pipeline/sampler/rng.h"
#include "pipeline/sampler/schedule.h"
#include "pipeline/sampler/solver.h"
#include "pipeline/tensor/ops.h"

namespace reel {
namespace {

TEST(ScheduleTest, EndpointsAndShift) {
  const std::vector<double> s = FlowSigmas(4, 3.0);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_DOUBLE_EQ(s[0], 1.0);
  EXPECT_DOUBLE_EQ(s[4], 0.0);
  EXPECT_NEAR(s[2], 3.0 * 0.5 / (1 + 2.0 * 0.5), 1e-12);  // σ' = sσ/(1+(s−1)σ) at σ = 0.5
  for (int i = 0; i < 4; ++i) EXPECT_GT(s[i], s[i + 1]);
  EXPECT_DOUBLE_EQ(ShiftSigma(0.3, 1.0), 0.3);
}

// On the straight path x_σ = (1−σ)·x0 + σ·ε with the exact velocity ε − x0, every solver lands on
// x0.
TEST(SolverTest, ExactVelocityReachesData) {
  const Tensor x0 = *Tensor::FromVector({3}, std::vector<float>{0.5f, -1.0f, 2.0f});
  const Tensor eps = *Tensor::FromVector({3}, std::vector<float>{1.0f, 0.25f, -0.5f});
  const Tensor v = *ops::Sub(eps, x0);
  for (const char* name : {"euler", "dpm++2m"}) {
    std::unique_ptr<FlowSolver> solver = *MakeFlowSolver(name, 7, 3.0);
    Tensor x = *eps.Clone();
    for (int i = 0; i < solver->steps(); ++i) ASSERT_TRUE(solver->Step(i, v, x).ok());
    const std::vector<float> got = *x.ToVector(), want = *x0.ToVector();
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << name;
  }
  EXPECT_FALSE(MakeFlowSolver("heun", 4, 3.0).ok());
  EXPECT_FALSE(MakeFlowSolver("euler", 0, 3.0).ok());
}

// The first DPM++ step from σ = 1 is σ₁·x + α₁·x̂0, the same point Euler reaches (contract, closed
// form).
TEST(SolverTest, DpmFirstStepEqualsEuler) {
  const Tensor x = *Tensor::FromVector({2}, std::vector<float>{0.3f, -0.7f});
  const Tensor v = *Tensor::FromVector({2}, std::vector<float>{1.1f, 0.4f});
  std::unique_ptr<FlowSolver> dpm = *MakeFlowSolver("dpm++2m", 5, 2.0);
  std::unique_ptr<FlowSolver> euler = *MakeFlowSolver("euler", 5, 2.0);
  Tensor a = *x.Clone(), b = *x.Clone();
  ASSERT_TRUE(dpm->Step(0, v, a).ok());
  ASSERT_TRUE(euler->Step(0, v, b).ok());
  const std::vector<float> av = *a.ToVector(), bv = *b.ToVector();
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(av[i], bv[i], 1e-6);
}

TEST(GuidanceTest, CombinesBranches) {
  const Tensor vu = *Tensor::FromVector({2}, std::vector<float>{1.0f, 2.0f});
  Tensor vc = *Tensor::FromVector({2}, std::vector<float>{3.0f, 1.0f});
  ASSERT_TRUE(CombineGuidance(vu, 4.0, vc).ok());
  EXPECT_EQ(*vc.ToVector(), (std::vector<float>{1.0f + 4.0f * 2.0f, 2.0f + 4.0f * -1.0f}));
}

// Random123's published known-answer vectors for Philox4x32-10.
TEST(RngTest, PhiloxKnownAnswers) {
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(
      Philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
      (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(
      Philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
      (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(RngTest, NoiseIsStandardNormalAndBlockwiseConsistent) {
  const Tensor whole = *LatentNoise(9, 3, 0, 6, 16, 16);
  const std::vector<float> v = *whole.ToVector();
  double mean = 0, var = 0;
  for (float x : v) mean += x / v.size();
  for (float x : v) var += (x - mean) * (x - mean) / v.size();
  // 4608 samples: the mean's standard error is ~0.015, the variance's ~0.02.
  EXPECT_NEAR(mean, 0.0, 0.06);
  EXPECT_NEAR(var, 1.0, 0.08);
  const Tensor part = *LatentNoise(9, 3, 2, 2, 16, 16);
  EXPECT_EQ(*part.ToVector(), *whole.Slice(1, 2, 4)->ToVector());
  EXPECT_NE(*LatentNoise(10, 3, 0, 6, 16, 16)->ToVector(), v);
}

}  // namespace
}  // namespace reel
