#include "pipeline/tensor/tensor.h"

#include <numeric>

#include "gtest/gtest.h"
#include "pipeline/tensor/allocator.h"

namespace reel {
namespace {

Tensor Iota(Shape shape) {
  std::vector<float> v(NumElements(shape));
  std::iota(v.begin(), v.end(), 0.0f);
  return *Tensor::FromVector(shape, v);
}

TEST(TensorTest, ReshapeIsAViewOfContiguousMemory) {
  Tensor t = Iota({2, 3, 4});
  absl::StatusOr<Tensor> r = t.Reshape({6, -1});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->shape(), (Shape{6, 4}));
  EXPECT_EQ(r->raw_data(), t.raw_data());
  EXPECT_FALSE(t.Reshape({5, 5}).ok());
}

TEST(TensorTest, PermuteSwapsStridesWithoutCopy) {
  Tensor t = Iota({2, 3});
  absl::StatusOr<Tensor> p = t.Permute({1, 0});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->shape(), (Shape{3, 2}));
  EXPECT_FALSE(p->is_contiguous());
  EXPECT_EQ(p->raw_data(), t.raw_data());
  // Reshape of a strided view must be refused rather than silently reinterpreting memory.
  EXPECT_EQ(p->Reshape({6}).status().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<float> v = *p->ToVector();
  EXPECT_EQ(v, (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_FALSE(t.Permute({0, 0}).ok());
}

TEST(TensorTest, SliceAndContiguousCopy) {
  Tensor t = Iota({3, 4});
  absl::StatusOr<Tensor> s = t.Slice(1, 1, 3);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->ToVector(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  absl::StatusOr<Tensor> c = s->Contiguous();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->is_contiguous());
  EXPECT_NE(c->raw_data(), s->raw_data());
  EXPECT_FALSE(t.Slice(1, 3, 5).ok());
  EXPECT_FALSE(t.Slice(2, 0, 1).ok());
}

TEST(TensorTest, FromVectorChecksCount) {
  EXPECT_FALSE(Tensor::FromVector({2, 2}, std::vector<float>{1, 2, 3}).ok());
  EXPECT_FALSE(Tensor::Empty({-1, 2}).ok());
}

TEST(TensorTest, CloneOfADefaultTensorIsAnErrorNotACrash) {
  const Tensor none;
  EXPECT_FALSE(none.defined());
  EXPECT_EQ(none.Clone().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Tensor::Zeros({0, 3})->Clone().ok()) << "an empty tensor is defined";
}

TEST(ArenaTest, ReusesOneBlockAfterFirstPass) {
  Arena arena(256);
  for (int pass = 0; pass < 3; ++pass) {
    arena.Reset();
    for (int i = 0; i < 10; ++i) {
      absl::StatusOr<Tensor> t = Tensor::Zeros({100}, DType::kF32, &arena);
      ASSERT_TRUE(t.ok());
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % 64, 0u);
    }
  }
  // 10 * 400 bytes rounded to 64 → 10 * 448; after coalescing exactly that much is held.
  EXPECT_EQ(arena.high_water_bytes(), 4480u);
  EXPECT_EQ(arena.capacity_bytes(), 4480u);
}

}  // namespace
}  // namespace reel
