// Element-wise ops against index-by-index loops over the logical shape.
#include "kernels/cpu/elementwise.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::RandomVector;

// Offset of logical index `flat` (row-major over shape) in a tensor with `strides`.
int64_t OffsetOf(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                 int64_t flat) {
  int64_t off = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    off += (flat % shape[d]) * strides[d];
    flat /= shape[d];
  }
  return off;
}

float ApplyRef(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
  }
  return 0.0f;
}

struct Operand {
  std::vector<int64_t> strides;
  int64_t span;  // Elements needed to hold every addressed element.
};

// Strides for a view of `shape`; broadcast dims get stride 0, `transposed` lays dims out reversed.
Operand MakeOperand(const std::vector<int64_t>& shape, uint32_t broadcast_mask, bool transposed) {
  const int rank = static_cast<int>(shape.size());
  Operand op{std::vector<int64_t>(rank, 0), 1};
  int64_t stride = 1;
  for (int i = 0; i < rank; ++i) {
    const int d = transposed ? i : rank - 1 - i;
    if (broadcast_mask & (1u << d)) continue;
    op.strides[d] = stride;
    stride *= shape[d];
  }
  op.span = stride;
  return op;
}

TEST(BinaryBroadcastTest, AllOpsBroadcastEachDimAndTransposedOperands) {
  const std::vector<std::vector<int64_t>> shapes = {
      {1},       {7},       {1, 1},       {3, 5},       {1, 9},   {4, 1},
      {2, 3, 4}, {3, 1, 5}, {2, 3, 4, 5}, {1, 2, 1, 3}, {70, 600}};
  uint32_t seed = 1;
  for (const auto& shape : shapes) {
    const int rank = static_cast<int>(shape.size());
    const int64_t total =
        std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
    for (uint32_t a_mask = 0; a_mask < (1u << rank); a_mask += 1 + (rank > 2)) {
      for (uint32_t b_mask : {0u, (1u << rank) - 1, a_mask ^ ((1u << rank) - 1), 1u}) {
        b_mask &= (1u << rank) - 1;
        for (const bool a_t : {false, true}) {
          const Operand a = MakeOperand(shape, a_mask, a_t);
          const Operand b = MakeOperand(shape, b_mask, false);
          const auto av = RandomVector(a.span, ++seed);
          auto bv = RandomVector(b.span, ++seed, 0.5f, 2.0f);
          for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv}) {
            std::vector<float> out(total, std::numeric_limits<float>::quiet_NaN());
            BinaryBroadcast(op, rank, shape.data(), av.data(), a.strides.data(), bv.data(),
                            b.strides.data(), out.data());
            int misses = 0;
            for (int64_t i = 0; i < total; ++i) {
              // A single f32 operation on the same inputs: the result must be bit-identical.
              const float want = ApplyRef(op, av[OffsetOf(shape, a.strides, i)],
                                          bv[OffsetOf(shape, b.strides, i)]);
              if (out[i] != want) ++misses;
            }
            EXPECT_EQ(misses, 0) << "rank " << rank << " total " << total << " a_mask " << a_mask
                                 << " b_mask " << b_mask << " a_t " << a_t << " op "
                                 << static_cast<int>(op);
          }
        }
      }
    }
  }
}

TEST(BinaryBroadcastTest, RankZeroIsOneElementAndEmptyShapeWritesNothing) {
  const float a = 3.0f, b = 4.0f;
  float out = 0.0f;
  BinaryBroadcast(BinaryOp::kMul, 0, nullptr, &a, nullptr, &b, nullptr, &out);
  EXPECT_EQ(out, 12.0f);
  const int64_t shape[] = {3, 0}, strides[] = {0, 1};
  float sentinel = -1.0f;
  BinaryBroadcast(BinaryOp::kAdd, 2, shape, &a, strides, &b, strides, &sentinel);
  EXPECT_EQ(sentinel, -1.0f);
}

TEST(BinaryBroadcastTest, LongContiguousRunSplitAcrossThreads) {
  const int64_t n = (1 << 16) + 3;
  const auto a = RandomVector(n, 5), b = RandomVector(n, 6);
  std::vector<float> out(n);
  const int64_t stride = 1;
  BinaryBroadcast(BinaryOp::kSub, 1, &n, a.data(), &stride, b.data(), &stride, out.data());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] - b[i]) << i;
}

TEST(AxpbyTest, MatchesDoubleAndIgnoresYWhenBetaIsZero) {
  for (const int64_t n : {int64_t{1}, int64_t{13}, int64_t{100003}}) {
    const auto x = RandomVector(n, 7);
    auto y = RandomVector(n, 8);
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = 0.3 * double{x[i]} + (-1.7) * double{y[i]};
    Axpby(n, 0.3f, x.data(), -1.7f, y.data());
    testing::ExpectAllNear(y, want, 1e-6, 1e-7, "axpby");
    std::vector<float> garbage(n, std::numeric_limits<float>::quiet_NaN());
    Axpby(n, 2.0f, x.data(), 0.0f, garbage.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(garbage[i], 2.0f * x[i]) << i;
  }
}

TEST(AbsDiffSumsTest, MatchesDoubleLoopAndDoesNotDependOnThreads) {
  for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{1025}, int64_t{300007}}) {
    const auto a = RandomVector(n, 11);
    const auto b = RandomVector(n, 12, -3.0f, 2.0f);
    double want_diff = 0.0, want_ref = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      want_diff += std::fabs(double{a[i]} - double{b[i]});
      want_ref += std::fabs(double{b[i]});
    }
    double diff = -1.0, ref = -1.0;
    AbsDiffSums(n, a.data(), b.data(), &diff, &ref);
    // f32 partials over chunks of 1024: relative error ~ 1024 · 2^-24.
    EXPECT_NEAR(diff, want_diff, 1e-4 * want_diff + 1e-12) << n;
    EXPECT_NEAR(ref, want_ref, 1e-4 * want_ref + 1e-12) << n;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    double diff1 = 0.0, ref1 = 0.0;
    AbsDiffSums(n, a.data(), b.data(), &diff1, &ref1);
    omp_set_num_threads(saved);
    EXPECT_EQ(diff1, diff) << "sums must not depend on the thread count, n = " << n;
    EXPECT_EQ(ref1, ref) << n;
  }
}

TEST(StridedCopyTest, PermutedViewsForEveryElementSize) {
  const std::vector<int64_t> shape = {3, 4, 5, 2};
  const int64_t total = 3 * 4 * 5 * 2;
  for (const int elem : {1, 2, 3, 4, 8}) {
    // Source laid out with dims reversed (a transpose view); destination contiguous, then the
    // reverse.
    const Operand src = MakeOperand(shape, 0, true);
    const Operand dst = MakeOperand(shape, 0, false);
    std::vector<uint8_t> s(src.span * elem);
    std::mt19937 gen(elem);
    for (auto& v : s) v = static_cast<uint8_t>(gen());
    std::vector<uint8_t> d(dst.span * elem, 0);
    StridedCopy(4, shape.data(), s.data(), src.strides.data(), d.data(), dst.strides.data(), elem);
    for (int64_t i = 0; i < total; ++i) {
      ASSERT_EQ(std::memcmp(&d[OffsetOf(shape, dst.strides, i) * elem],
                            &s[OffsetOf(shape, src.strides, i) * elem], elem),
                0)
          << "elem " << elem << " index " << i;
    }
    std::vector<uint8_t> back(src.span * elem, 0);
    StridedCopy(4, shape.data(), d.data(), dst.strides.data(), back.data(), src.strides.data(),
                elem);
    EXPECT_EQ(back, s) << "elem " << elem;
  }
}

TEST(StridedCopyTest, BroadcastSourceAndStridedDestinationLeaveGapsAlone) {
  // Source (1 row broadcast to 4), destination every other column of a 4x10 buffer.
  const int64_t shape[] = {4, 5}, src_strides[] = {0, 1}, dst_strides[] = {10, 2};
  const float src[] = {1, 2, 3, 4, 5};
  std::vector<float> dst(40, -1.0f);
  StridedCopy(2, shape, src, src_strides, dst.data(), dst_strides, 4);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 10; ++c) {
      EXPECT_EQ(dst[r * 10 + c], c % 2 == 0 ? src[c / 2] : -1.0f) << r << "," << c;
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
