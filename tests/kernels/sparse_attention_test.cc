// Flash attention, SLA's block map, block-sparse attention and SLA-1's linear branch against the
// double-precision oracles of sparse_attention_reference.h, plus SLA's invariants (B.8).
#include "kernels/cpu/sparse_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/sparse_attention_reference.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

// f32 kernels against double oracles: outputs are O(1) convex combinations of values in [-1, 1].
constexpr double kRel = 1e-5, kAbs = 1e-5;

using Shape = reference::AttentionCase;
using reference::Causal;

// Odd lengths (partial last tiles), nq != nk, block-causal with and without a window, offsets
// (queries = the current block, keys = the window before it plus itself), tiles cut through blocks.
std::vector<Shape> Shapes() {
  return {
      {37, 37, 2, 8, {}, 16, 16, "bidirectional, partial tiles"},
      {64, 200, 3, 16, {}, 32, 64, "nq != nk"},
      {96, 96, 2, 16, Causal(32), 32, 32, "block-causal, aligned"},
      {90, 90, 2, 8, Causal(30), 16, 24, "block-causal, tiles cut blocks"},
      {90, 90, 2, 8, Causal(30, 2), 16, 16, "window 2"},
      {40, 120, 2, 16, Causal(40, 2, 3, 1), 16, 32, "window 2, offsets"},
      {50, 150, 1, 32, Causal(50, 0, 2, 0), 64, 64, "causal offsets, one tile of queries"},
      {30, 30, 2, 8, AttentionBlocks{10, 0, 0, 0, false}, 8, 8, "blocks given, rule off"},
  };
}

struct Inputs {
  std::vector<float> q, k, v;
};

Inputs Random(const Shape& s, uint32_t seed) {
  const int64_t w = s.heads * s.d;
  Inputs in{RandomVector(s.nq * w, seed), RandomVector(s.nk * w, seed + 1),
            RandomVector(s.nk * w, seed + 2)};
  // Larger logits than U(-1,1) dot products alone give, so the softmax is not near-uniform.
  for (float& x : in.q) x *= 2.0f;
  return in;
}

std::vector<uint8_t> KernelMap(const Shape& s, const Inputs& in, float topk, bool at_least_one) {
  const int64_t qt = TileCount(s.nq, s.tile_q), kt = TileCount(s.nk, s.tile_k);
  std::vector<uint8_t> map(s.heads * qt * kt, 255);
  SparseTileMap(in.q.data(), in.k.data(), s.nq, s.nk, s.heads, s.d, s.blocks,
                {topk, s.tile_q, s.tile_k}, at_least_one, map.data());
  return map;
}

TEST(FlashAttentionTest, MatchesReferenceWithMasksAndOddLengths) {
  uint32_t seed = 10;
  for (const Shape& s : Shapes()) {
    SCOPED_TRACE(s.name);
    const Inputs in = Random(s, seed += 3);
    std::vector<float> mask(s.nk, 1.0f);
    for (int64_t j = 0; j < s.nk; j += 3) mask[j] = 0.0f;  // Padding scattered over every tile.
    for (const float* m : std::vector<const float*>{nullptr, mask.data()}) {
      const auto want =
          reference::Flash(in.q, in.k, in.v, m, s.nq, s.nk, s.heads, s.d, 0.3, s.blocks);
      std::vector<float> got(s.nq * s.heads * s.d, NAN);
      FlashAttention(in.q.data(), in.k.data(), in.v.data(), m, s.nq, s.nk, s.heads, s.d, 0.3f,
                     s.blocks, s.tile_q, s.tile_k, got.data());
      ExpectAllNear(got, want, kRel, kAbs, m ? "flash, key mask" : "flash");
    }
  }
}

TEST(FlashAttentionTest, RowsWithoutKeysGiveZeroAndHugeMaskedValuesDoNotLeak) {
  const Shape s{20, 20, 1, 4, Causal(10, 0, 0, 1), 8, 8, "keys start one block later"};
  Inputs in = Random(s, 3);
  std::vector<float> mask(s.nk, 1.0f);
  mask[15] = 0.0f;
  for (int64_t c = 0; c < 4; ++c) in.v[15 * 4 + c] = NAN;  // A padded row: must not reach out.
  std::vector<float> got(s.nq * 4, 1.0f);
  FlashAttention(in.q.data(), in.k.data(), in.v.data(), mask.data(), s.nq, s.nk, 1, 4, 0.5f,
                 s.blocks, s.tile_q, s.tile_k, got.data());
  for (int64_t i = 0; i < 10 * 4; ++i) ASSERT_EQ(got[i], 0.0f) << "block 0 sees no key";
  const auto want =
      reference::Flash(in.q, in.k, in.v, mask.data(), s.nq, s.nk, 1, 4, 0.5, s.blocks);
  ExpectAllNear(got, want, kRel, kAbs, "flash");
}

TEST(SparseTileMapTest, MatchesReference) {
  uint32_t seed = 100;
  for (const Shape& s : Shapes()) {
    SCOPED_TRACE(s.name);
    const Inputs in = Random(s, seed += 3);
    for (const float topk : {0.0f, 0.1f, 0.3f, 0.5f, 1.0f}) {
      SCOPED_TRACE(topk);
      // Random continuous inputs: a score gap below f32 resolution (a near-tie that could flip
      // the choice) has probability ~1e-6 per comparison; the seeds are fixed.
      const auto want = reference::TileMap(in.q, in.k, s.nq, s.nk, s.heads, s.d, s.blocks, topk,
                                           s.tile_q, s.tile_k, true);
      EXPECT_EQ(KernelMap(s, in, topk, true), want.map);
    }
  }
}

TEST(SparseTileMapTest, KeepsAtLeastOneTileAndCountsTheClamp) {
  const Shape s{64, 640, 2, 8, {}, 64, 64, "10 key tiles"};
  const Inputs in = Random(s, 7);
  for (const auto& [topk, at_least_one, want] :
       std::vector<std::tuple<float, bool, int>>{{0.05f, true, 1},
                                                 {0.05f, false, 0},
                                                 {0.0f, false, 0},
                                                 {0.0f, true, 1},
                                                 {0.7f, true, 7},
                                                 {0.29f, true, 2},
                                                 {2.0f, true, 10}}) {
    const auto map = KernelMap(s, in, topk, at_least_one);
    for (int64_t h = 0; h < 2; ++h) {
      int critical = 0;
      for (int64_t j = 0; j < 10; ++j) critical += map[h * 10 + j] == kTileCritical;
      EXPECT_EQ(critical, want) << "topk " << topk << " at_least_one " << at_least_one;
    }
  }
}

TEST(SparseTileMapTest, InvariantToShiftedKeysAndScaledQueries) {
  const Shape s{128, 256, 2, 16, {}, 32, 32, "8 x 8 tiles"};
  const Inputs in = Random(s, 21);
  const auto base = KernelMap(s, in, 0.25f, true);
  Inputs shifted = in, scaled = in;
  const auto shift = RandomVector(s.heads * s.d, 5, -3.0f, 3.0f);
  for (int64_t j = 0; j < s.nk; ++j) {
    for (int64_t c = 0; c < s.heads * s.d; ++c) shifted.k[j * s.heads * s.d + c] += shift[c];
  }
  for (float& x : scaled.q) x *= 3.0f;
  EXPECT_EQ(KernelMap(s, shifted, 0.25f, true), base) << "smooth-K removes a constant key shift";
  EXPECT_EQ(KernelMap(s, scaled, 0.25f, true), base) << "scaling q by c > 0 keeps the order";
  // Permuting the key tiles permutes the map (swap tiles 0 and 5).
  Inputs permuted = in;
  const int64_t w = s.heads * s.d, rows = 32 * w;
  std::swap_ranges(permuted.k.begin(), permuted.k.begin() + rows, permuted.k.begin() + 5 * rows);
  auto want = base;
  for (int64_t r = 0; r < s.heads * 4; ++r) std::swap(want[r * 8], want[r * 8 + 5]);
  EXPECT_EQ(KernelMap(s, permuted, 0.25f, true), want);
}

TEST(BlockSparseAttentionTest, MatchesReferenceOnTheSameMap) {
  uint32_t seed = 200;
  for (const Shape& s : Shapes()) {
    SCOPED_TRACE(s.name);
    const Inputs in = Random(s, seed += 3);
    for (const float topk : {0.01f, 0.3f, 1.0f}) {
      const auto map = KernelMap(s, in, topk, true);
      const auto want = reference::BlockSparse(in.q, in.k, in.v, map, s.nq, s.nk, s.heads, s.d, 0.3,
                                               s.blocks, s.tile_q, s.tile_k);
      std::vector<float> got(s.nq * s.heads * s.d, NAN);
      BlockSparseAttention(in.q.data(), in.k.data(), in.v.data(), map.data(), s.nq, s.nk, s.heads,
                           s.d, 0.3f, s.blocks, s.tile_q, s.tile_k, got.data());
      ExpectAllNear(got, want, kRel, kAbs, "block-sparse");
      for (const float x : got) ASSERT_FALSE(std::isnan(x)) << "topk " << topk;
      if (topk >= 1.0f) {
        const auto dense =
            reference::Flash(in.q, in.k, in.v, nullptr, s.nq, s.nk, s.heads, s.d, 0.3, s.blocks);
        ExpectAllNear(got, dense, kRel, kAbs, "block-sparse at topk 1 vs softmax");
      }
    }
  }
}

TEST(SparseLinearBranchTest, MatchesLinearAttentionOverTheMarginalTiles) {
  uint32_t seed = 300;
  for (const Shape& s : Shapes()) {
    SCOPED_TRACE(s.name);
    const Inputs in = Random(s, seed += 3);
    for (const float topk : {0.0f, 0.2f, 0.5f, 1.0f}) {
      SCOPED_TRACE(topk);
      const auto map = KernelMap(s, in, topk, topk > 0.0f);
      const auto want = reference::Linear(in.q, in.k, in.v, map, s.nq, s.nk, s.heads, s.d, s.blocks,
                                          s.tile_q, s.tile_k, 1u << kTileMarginal);
      std::vector<float> got(s.nq * s.heads * s.d, 0.0f);
      SparseLinearBranchAdd(in.q.data(), in.k.data(), in.v.data(), map.data(), s.nq, s.nk, s.heads,
                            s.d, s.blocks, s.tile_q, s.tile_k, got.data());
      ExpectAllNear(got, want, kRel, kAbs, "linear branch");
      if (topk >= 1.0f) {
        for (const float x : got) ASSERT_EQ(x, 0.0f) << "every tile critical: O_l = 0";
      }
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
