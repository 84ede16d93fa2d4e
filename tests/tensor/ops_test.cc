// Tensor-level dispatch: shape checks, broadcasting and views, against scalar oracles written here.
#include "pipeline/tensor/ops.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace reel {
namespace {

Tensor Random(Shape shape, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(NumElements(shape));
  for (float& x : v) x = u(gen);
  return *Tensor::FromVector(shape, v);
}

TEST(OpsTest, LinearMatchesScalarOracle) {
  Tensor x = Random({2, 3, 5}, 1), w = Random({4, 5}, 2), b = Random({4}, 3);
  absl::StatusOr<Tensor> y = ops::Linear(x, w, &b);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->shape(), (Shape{2, 3, 4}));
  const std::vector<float> xv = *x.ToVector(), wv = *w.ToVector(), bv = *b.ToVector(),
                           yv = *y->ToVector();
  for (int r = 0; r < 6; ++r) {
    for (int o = 0; o < 4; ++o) {
      double acc = bv[o];
      for (int i = 0; i < 5; ++i) acc += double(xv[r * 5 + i]) * wv[o * 5 + i];
      EXPECT_NEAR(yv[r * 4 + o], acc, 1e-5);
    }
  }
  EXPECT_EQ(ops::Linear(x, Random({4, 6}, 4), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A bf16 weight (mapped from a checkpoint) computes what its f32 widening computes, over several
// 256-row panels (600 outputs: two whole panels and a partial one), with and without bias; the
// oracle is the f32 Linear on ops::Cast's widening (bf16 → f32 is exact).
TEST(OpsTest, LinearWithBf16WeightEqualsItsF32Widening) {
  const Tensor x = Random({7, 70}, 11), b = Random({600}, 13);
  const Tensor w16 = *ops::Cast(Random({600, 70}, 12), DType::kBF16);
  const Tensor w32 = *ops::Cast(w16, DType::kF32);
  for (const Tensor* bias : {static_cast<const Tensor*>(nullptr), &b}) {
    absl::StatusOr<Tensor> got = ops::Linear(x, w16, bias);
    ASSERT_TRUE(got.ok()) << got.status();
    const std::vector<float> g = *got->ToVector(), want = *ops::Linear(x, w32, bias)->ToVector();
    ASSERT_EQ(g.size(), want.size());
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-5) << i;
  }
  EXPECT_EQ(ops::Linear(x, *ops::Cast(Random({4, 71}, 14), DType::kBF16), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OpsTest, TemporalConv3WithBf16WeightEqualsItsF32Widening) {
  const Tensor x = Random({4, 3, 6}, 21);
  const Tensor w16 = *ops::Cast(Random({5, 6, 3}, 22), DType::kBF16);
  const Tensor w32 = *ops::Cast(w16, DType::kF32);
  for (int pad : {1, 2}) {
    const std::vector<float> g = *ops::TemporalConv3(x, Tensor(), w16, pad)->ToVector();
    const std::vector<float> want = *ops::TemporalConv3(x, Tensor(), w32, pad)->ToVector();
    ASSERT_EQ(g.size(), want.size());
    for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], want[i]) << i;
  }
}

TEST(OpsTest, LinearAcceptsStridedInput) {
  Tensor x = Random({5, 3}, 5), w = Random({2, 5}, 6);
  Tensor xt = *x.Permute({1, 0});  // (3, 5) view
  absl::StatusOr<Tensor> y = ops::Linear(xt, w, nullptr);
  ASSERT_TRUE(y.ok()) << y.status();
  const std::vector<float> xv = *xt.ToVector(), wv = *w.ToVector(), yv = *y->ToVector();
  for (int r = 0; r < 3; ++r) {
    for (int o = 0; o < 2; ++o) {
      double acc = 0;
      for (int i = 0; i < 5; ++i) acc += double(xv[r * 5 + i]) * wv[o * 5 + i];
      EXPECT_NEAR(yv[r * 2 + o], acc, 1e-5);
    }
  }
}

TEST(OpsTest, BroadcastingFollowsNumpyRules) {
  Tensor a = Random({2, 1, 3}, 7), b = Random({4, 1}, 8);
  absl::StatusOr<Tensor> y = ops::Mul(a, b);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->shape(), (Shape{2, 4, 3}));
  const std::vector<float> av = *a.ToVector(), bv = *b.ToVector(), yv = *y->ToVector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) EXPECT_FLOAT_EQ(yv[(i * 4 + j) * 3 + k], av[i * 3 + k] * bv[j]);
  EXPECT_FALSE(ops::Add(Random({2, 3}, 1), Random({4}, 2)).ok());
}

TEST(OpsTest, InPlaceAddBroadcastsRowVector) {
  Tensor x = Random({3, 4}, 9), row = Random({4}, 10);
  const std::vector<float> xv = *x.ToVector(), rv = *row.ToVector();
  ASSERT_TRUE(ops::BinaryInPlace(ops::BinaryOp::kAdd, x, row).ok());
  const std::vector<float> yv = *x.ToVector();
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(yv[i], xv[i] + rv[i % 4]);
  Tensor small = Random({4}, 11);
  EXPECT_FALSE(ops::BinaryInPlace(ops::BinaryOp::kAdd, small, x).ok());
}

TEST(OpsTest, ConcatAndChunkAreInverse) {
  Tensor a = Random({2, 3}, 12), b = Random({2, 5}, 13);
  absl::StatusOr<Tensor> c = ops::Concat({a, b}, 1);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->shape(), (Shape{2, 8}));
  EXPECT_EQ(*c->Slice(1, 0, 3)->ToVector(), *a.ToVector());
  EXPECT_EQ(*c->Slice(1, 3, 8)->ToVector(), *b.ToVector());
  absl::StatusOr<std::vector<Tensor>> parts = ops::Chunk(*c, 2, 1);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[0].shape(), (Shape{2, 4}));
  EXPECT_FALSE(ops::Chunk(*c, 3, 1).ok());
  EXPECT_FALSE(ops::Concat({a, Random({3, 3}, 1)}, 1).ok());
}

TEST(OpsTest, LayerNormModulatePerRowEqualsSharedWhenRowsAgree) {
  Tensor x = Random({3, 8}, 14), shift = Random({8}, 15), scale = Random({8}, 16);
  Tensor shift3 = *ops::Concat(
      {shift.Reshape({1, 8}).value(), shift.Reshape({1, 8}).value(), shift.Reshape({1, 8}).value()},
      0);
  Tensor scale3 = *ops::Concat(
      {scale.Reshape({1, 8}).value(), scale.Reshape({1, 8}).value(), scale.Reshape({1, 8}).value()},
      0);
  std::vector<float> shared = *ops::LayerNormModulate(x, 1e-6f, shift, scale)->ToVector();
  std::vector<float> per_row = *ops::LayerNormModulate(x, 1e-6f, shift3, scale3)->ToVector();
  ASSERT_EQ(shared.size(), per_row.size());
  for (size_t i = 0; i < shared.size(); ++i) EXPECT_FLOAT_EQ(shared[i], per_row[i]);
  // Oracle for row 0.
  const std::vector<float> xv = *x.ToVector(), sh = *shift.ToVector(), sc = *scale.ToVector();
  double mean = 0, var = 0;
  for (int i = 0; i < 8; ++i) mean += xv[i] / 8.0;
  for (int i = 0; i < 8; ++i) var += (xv[i] - mean) * (xv[i] - mean) / 8.0;
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(shared[i], (xv[i] - mean) / std::sqrt(var + 1e-6) * (1 + sc[i]) + sh[i], 1e-5);
  }
}

TEST(OpsTest, CastRoundTripWithinDtypeBound) {
  Tensor x = Random({64}, 17);
  const std::vector<float> xv = *x.ToVector();
  for (auto [dtype, rel] :
       {std::pair{DType::kF16, 1.0 / 2048}, std::pair{DType::kBF16, 1.0 / 256}}) {
    Tensor h = *ops::Cast(x, dtype);
    EXPECT_EQ(h.dtype(), dtype);
    const std::vector<float> back = *ops::Cast(h, DType::kF32)->ToVector();
    for (size_t i = 0; i < xv.size(); ++i)
      EXPECT_LE(std::abs(back[i] - xv[i]), rel * std::abs(xv[i]) + 1e-7);
  }
  EXPECT_EQ(ops::Linear(*ops::Cast(x.Reshape({8, 8}).value(), DType::kF16),
                        x.Reshape({8, 8}).value(), nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reel
