// ops::FlashAttention / BlockSparseAttention / SparseLinearAttention: SLA's invariants (research
// B.8) at the tensor level against the double oracles, stats, and clear errors for bad arguments.
#include <cmath>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "pipeline/tensor/ops.h"
#include "tests/kernels/sparse_attention_reference.h"

namespace reel {
namespace {

namespace ref = kernels::cpu::reference;
using kernels::cpu::kTileCritical;
using kernels::cpu::kTileMarginal;
using kernels::cpu::kTileMasked;

constexpr double kTol = 1e-5;  // abs and rel, f32 kernels vs double oracles

std::vector<float> RandomValues(int64_t n, uint32_t seed, float amplitude = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-amplitude, amplitude);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

void ExpectNear(const Tensor& got, const std::vector<double>& want, const char* what) {
  const std::vector<float> g = *got.ToVector();
  ASSERT_EQ(g.size(), want.size());
  int misses = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(std::abs(g[i] - want[i]) <= kTol + kTol * std::abs(want[i])) && ++misses <= 3) {
      ADD_FAILURE() << what << " [" << i << "] " << g[i] << " vs " << want[i];
    }
  }
  EXPECT_EQ(misses, 0) << what;
}

struct Case {
  int64_t nq, nk, heads, d;
  ops::AttentionBlocks blocks;
  int64_t tile;
  const char* name;
};

class SparseLinearAttentionTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    qv_ = RandomValues(c.nq * c.heads * c.d, 1, 2.0f);
    kv_ = RandomValues(c.nk * c.heads * c.d, 2);
    vv_ = RandomValues(c.nk * c.heads * c.d, 3);
    q_ = *Tensor::FromVector({c.nq, c.heads * c.d}, qv_);
    k_ = *Tensor::FromVector({c.nk, c.heads * c.d}, kv_);
    v_ = *Tensor::FromVector({c.nk, c.heads * c.d}, vv_);
  }
  ops::SparseAttentionOptions Options(float topk) const {
    return {topk, GetParam().tile, GetParam().tile};
  }
  std::vector<float> qv_, kv_, vv_;
  Tensor q_, k_, v_;
};

TEST_P(SparseLinearAttentionTest, AllTilesCriticalIsSoftmaxAttention) {
  const Case& c = GetParam();
  const auto want = ref::Flash(qv_, kv_, vv_, nullptr, c.nq, c.nk, c.heads, c.d, 0.25, c.blocks);
  auto flash = ops::FlashAttention(q_, k_, v_, nullptr, c.heads, 0.25f, c.blocks);
  ASSERT_TRUE(flash.ok()) << flash.status();
  ExpectNear(*flash, want, "FlashAttention");
  ops::SparseAttentionStats stats;
  auto sla =
      ops::SparseLinearAttention(q_, k_, v_, c.heads, 0.25f, c.blocks, Options(1.0f), &stats);
  ASSERT_TRUE(sla.ok()) << sla.status();
  ExpectNear(*sla, want, "SLA at topk 1");
  EXPECT_EQ(stats.tiles_computed, stats.tiles_allowed);
  auto sparse = ops::BlockSparseAttention(q_, k_, v_, c.heads, 0.25f, c.blocks, Options(1.0f));
  ASSERT_TRUE(sparse.ok()) << sparse.status();
  ExpectNear(*sparse, want, "block-sparse at topk 1");
}

TEST_P(SparseLinearAttentionTest, NoTileCriticalIsReluLinearAttention) {
  const Case& c = GetParam();
  // Every allowed key through the linear branch: mark all tiles "marginal" in the oracle.
  const auto map =
      ref::TileMap(qv_, kv_, c.nq, c.nk, c.heads, c.d, c.blocks, 0.0, c.tile, c.tile, false);
  const auto want = ref::Linear(qv_, kv_, vv_, map.map, c.nq, c.nk, c.heads, c.d, c.blocks, c.tile,
                                c.tile, (1u << kTileMarginal) | (1u << kTileCritical));
  ops::SparseAttentionStats stats;
  auto sla =
      ops::SparseLinearAttention(q_, k_, v_, c.heads, 0.25f, c.blocks, Options(0.0f), &stats);
  ASSERT_TRUE(sla.ok()) << sla.status();
  ExpectNear(*sla, want, "SLA at topk 0");
  EXPECT_EQ(stats.tiles_computed, 0);
  EXPECT_GT(stats.tiles_allowed, 0);
}

TEST_P(SparseLinearAttentionTest, SumOfBranchesAndStatsMatchTheMap) {
  const Case& c = GetParam();
  for (const float topk : {0.001f, 0.2f, 0.5f}) {
    SCOPED_TRACE(topk);
    auto map = ops::SparseTileMap(q_, k_, c.heads, c.blocks, Options(topk), true);
    ASSERT_TRUE(map.ok()) << map.status();
    int64_t critical = 0, allowed = 0;
    for (const uint8_t cls : map->classes) {
      critical += cls == kTileCritical;
      allowed += cls != kTileMasked;
    }
    const auto sparse_want = ref::BlockSparse(qv_, kv_, vv_, map->classes, c.nq, c.nk, c.heads, c.d,
                                              0.25, c.blocks, c.tile, c.tile);
    auto linear_want = ref::Linear(qv_, kv_, vv_, map->classes, c.nq, c.nk, c.heads, c.d, c.blocks,
                                   c.tile, c.tile, 1u << kTileMarginal);
    for (size_t i = 0; i < linear_want.size(); ++i) linear_want[i] += sparse_want[i];
    ops::SparseAttentionStats stats;
    auto sparse =
        ops::BlockSparseAttention(q_, k_, v_, c.heads, 0.25f, c.blocks, Options(topk), &stats);
    ASSERT_TRUE(sparse.ok()) << sparse.status();
    ExpectNear(*sparse, sparse_want, "block-sparse");
    const std::vector<float> values = *sparse->ToVector();
    for (const float x : values) ASSERT_TRUE(std::isfinite(x));
    EXPECT_EQ(stats.tiles_computed, critical);
    EXPECT_EQ(stats.tiles_allowed, allowed);
    auto sla = ops::SparseLinearAttention(q_, k_, v_, c.heads, 0.25f, c.blocks, Options(topk));
    ASSERT_TRUE(sla.ok()) << sla.status();
    ExpectNear(*sla, linear_want, "O_s + O_l");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SparseLinearAttentionTest,
    ::testing::Values(Case{77, 77, 2, 16, {}, 16, "PartialLastTile"},
                      Case{48, 130, 3, 8, {}, 32, "QueriesFewerThanKeys"},
                      Case{120, 120, 2, 8, {40, 0, 0, 0, true}, 16, "BlockCausalTilesCutBlocks"},
                      Case{60, 180, 2, 8, {60, 2, 0, 2, true}, 32, "Window2WithOffsets"}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(AttentionOpsTest, KeyMaskExcludesPaddedKeys) {
  const int64_t nq = 20, nk = 33, heads = 2, d = 4;
  const auto qv = RandomValues(nq * heads * d, 4), kv = RandomValues(nk * heads * d, 5),
             vv = RandomValues(nk * heads * d, 6);
  std::vector<float> mask(nk, 1.0f);
  for (int64_t j = 20; j < nk; ++j) mask[j] = 0.0f;
  const Tensor q = *Tensor::FromVector({nq, heads * d}, qv),
               k = *Tensor::FromVector({nk, heads * d}, kv),
               v = *Tensor::FromVector({nk, heads * d}, vv), m = *Tensor::FromVector({nk}, mask);
  auto y = ops::FlashAttention(q, k, v, &m, heads, 0.5f, {});
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear(*y, ref::Flash(qv, kv, vv, mask.data(), nq, nk, heads, d, 0.5, {}), "masked flash");
  // The old materialized op agrees.
  auto old = ops::SoftmaxAttention(q, k, v, &m, heads, 0.5f);
  ASSERT_TRUE(old.ok());
  const std::vector<float> old_values = *old->ToVector();
  ExpectNear(*y, std::vector<double>(old_values.begin(), old_values.end()), "vs SoftmaxAttention");
}

TEST(AttentionOpsTest, RejectsBadArgumentsWithClearErrors) {
  const Tensor q = *Tensor::Zeros({8, 8}), k = *Tensor::Zeros({6, 8}), bad = *Tensor::Zeros({6, 4});
  const Tensor mask = *Tensor::Zeros({5});
  EXPECT_EQ(ops::FlashAttention(q, k, bad, nullptr, 2, 1.0f, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops::FlashAttention(q, k, k, nullptr, 3, 1.0f, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops::FlashAttention(q, k, k, &mask, 2, 1.0f, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops::FlashAttention(q, k, k, nullptr, 2, 1.0f, {-1, 0, 0, 0, true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const ops::SparseAttentionOptions o :
       {ops::SparseAttentionOptions{-0.1f, 64, 64}, ops::SparseAttentionOptions{NAN, 64, 64},
        ops::SparseAttentionOptions{0.1f, 0, 64}, ops::SparseAttentionOptions{0.1f, 64, -2}}) {
    const auto s = ops::SparseLinearAttention(q, k, k, 2, 1.0f, {}, o);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_EQ(ops::BlockSparseAttention(q, k, k, 2, 1.0f, {}, o).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  const absl::Status status =
      ops::BlockSparseAttention(q, k, k, 2, 1.0f, {}, {0.1f, 0, 64}).status();
  const std::string msg(status.message());
  EXPECT_NE(msg.find("tile_q 0"), std::string::npos) << msg;
}

TEST(AttentionOpsTest, EmptyKeysGiveZeros) {
  const Tensor q = *Tensor::FromVector({3, 4}, RandomValues(12, 9)), k = *Tensor::Zeros({0, 4});
  for (const auto& y : {ops::FlashAttention(q, k, k, nullptr, 1, 1.0f, {}),
                        ops::SparseLinearAttention(q, k, k, 1, 1.0f, {}, {}),
                        ops::BlockSparseAttention(q, k, k, 1, 1.0f, {}, {})}) {
    ASSERT_TRUE(y.ok()) << y.status();
    const std::vector<float> values = *y->ToVector();
    for (const float x : values) EXPECT_EQ(x, 0.0f);
  }
}

}  // namespace
}  // namespace reel
