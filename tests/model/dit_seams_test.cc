// The seams later work plugs into (ARCHITECTURE.md §3), tested with a world of 1 and test policies:
// the forward routes linear attention's sums through the ParallelContext's communicator, consults
// a CachePolicy after the first block, and picks the self-attention by its configured kind.
#include <omp.h>

#include <map>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "kernels/cpu/sparse_attention.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/model/cache_policy.h"
#include "pipeline/model/exact_attention.h"
#include "pipeline/parallel/communicator.h"
#include "tests/model/tiny_dit.h"

namespace reel {
namespace {

using testing::TinyDit;

using testing::Random;

PreparedCaption Caption(const Dit& dit) {
  return *dit.PrepareCaption(Random({5, 24}, 7), *Tensor::FromVector({5}, {1, 1, 1, 0, 0}));
}

// Counts the reductions and their sizes; optionally claims a bigger world.
class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(int world = 1) : world_(world) {}
  int rank() const override { return 0; }
  int world_size() const override { return world_; }
  absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) override {
    ++calls;
    for (const Tensor* t : tensors) floats += t->numel();
    return local_.AllReduceSum(tensors);
  }
  absl::Status AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                         Tensor& out) override {
    return local_.AllGather(local, counts, out);
  }
  absl::Status Broadcast(Tensor& t, int root) override { return local_.Broadcast(t, root); }
  absl::Status Exchange(absl::Span<const SendTo> s, absl::Span<const RecvFrom> r) override {
    return local_.Exchange(s, r);
  }
  absl::Status Barrier() override { return local_.Barrier(); }
  int calls = 0;
  int64_t floats = 0;

 private:
  int world_;
  LocalCommunicator local_;
};

TEST(ParallelSeam, AttentionSumsGoThroughTheCommunicator) {
  const Dit dit = TinyDit();  // 2 layers, 2 heads × 32, block_frames 2
  const PreparedCaption cap = Caption(dit);
  const Tensor x = Random({4, 4, 8, 8}, 3);
  const Tensor plain = *dit.Forward(x, {500.0f}, cap, ForwardOptions{});

  CountingCommunicator comm;
  ForwardOptions options;
  options.causal_block_frames = 2;
  options.parallel.comm = &comm;
  const Tensor causal_default =
      *dit.Forward(x, {500.0f}, cap, ForwardOptions{.causal_block_frames = 2});
  const Tensor causal = *dit.Forward(x, {500.0f}, cap, options);
  EXPECT_EQ(*causal.ToVector(), *causal_default.ToVector()) << "a world of 1 changes nothing";
  EXPECT_NE(*causal.ToVector(), *plain.ToVector());
  // One reduction per layer and block-causal group (4 frames / 2), each of heads·d·(d+1) floats:
  // the per-layer traffic of sequence parallelism, independent of the number of tokens.
  EXPECT_EQ(comm.calls, 2 * 2);
  EXPECT_EQ(comm.floats, int64_t{comm.calls} * 2 * 32 * 33);
}

TEST(ParallelSeam, MoreRanksThanTokenRowsAreRefused) {
  // Sequence parallelism gives every rank a band of at least one token row (tests/parallel has the
  // N ranks = 1 rank equivalence over Gloo).
  const Dit dit = TinyDit();
  CountingCommunicator many(5);
  ForwardOptions options;
  options.parallel.comm = &many;
  const absl::StatusOr<Tensor> v =
      dit.Forward(Random({4, 2, 8, 8}, 1), {1.0f}, Caption(dit), options);  // 4 token rows
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(v.status().message()).find("4 token rows cannot be split over 5 ranks"),
            std::string::npos)
      << v.status();
}

// Computes every step and records what it saw, or replays a stored last-block output.
class RecordingPolicy final : public CachePolicy {
 public:
  absl::StatusOr<bool> ShouldCompute(int step, const Tensor& first) override {
    steps.push_back(step);
    first_seen = *first.Clone();
    return !replaying;
  }
  absl::StatusOr<Tensor> Forecast(int) override { return replay.Clone(); }
  absl::Status Observe(int, const Tensor& first, const Tensor& last) override {
    EXPECT_EQ(*first.ToVector(), *first_seen.ToVector()) << "Observe gets the first block's output";
    last_seen = *last.Clone();
    ++observed;
    return absl::OkStatus();
  }
  std::vector<int> steps;
  Tensor first_seen, last_seen, replay;
  bool replaying = false;
  int observed = 0;
};

TEST(CacheSeam, ObservesEveryComputedStepAndUsesTheForecastWhenTrusted) {
  const Dit dit = TinyDit();
  const PreparedCaption cap = Caption(dit);
  const Tensor a = Random({4, 2, 8, 8}, 1), b = Random({4, 2, 8, 8}, 2);
  const Tensor va = *dit.Forward(a, {300.0f}, cap, ForwardOptions{});

  RecordingPolicy record;
  ForwardOptions options;
  options.cache = &record;
  options.step = 3;
  EXPECT_EQ(*dit.Forward(a, {300.0f}, cap, options)->ToVector(), *va.ToVector())
      << "observing changes nothing";
  EXPECT_EQ(record.steps, std::vector<int>{3});
  EXPECT_EQ(record.observed, 1);
  EXPECT_EQ(record.last_seen.shape(), (Shape{2, 16, 64}));

  // Replaying a's last-block output on input b: the remaining blocks are skipped and the output
  // layer turns the forecast into a's velocity (same timestep), although b's first block differs.
  RecordingPolicy replay;
  replay.replay = record.last_seen;
  replay.replaying = true;
  options.cache = &replay;
  const Tensor vb = *dit.Forward(b, {300.0f}, cap, options);
  EXPECT_EQ(*vb.ToVector(), *va.ToVector());
  EXPECT_EQ(replay.observed, 0);
  EXPECT_NE(*replay.first_seen.ToVector(), *record.first_seen.ToVector());

  // The state-update pass must see real outputs.
  ModelState state = *dit.NewState(16);
  options.state = &state;
  options.update_state = true;
  EXPECT_EQ(dit.Forward(a, {0.0f}, cap, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CacheSeam, BlockGenerationConsultsThePolicyEveryStepOfEveryBlock) {
  const Dit dit = TinyDit();
  const PreparedCaption cap = Caption(dit);
  RecordingPolicy policy;
  BlockGenerationParams params;
  params.sampling.steps = 3;
  params.sampling.cfg_scale = 1.0;
  params.latent_frames = 4;  // 2 blocks of 2 frames
  params.latent_height = params.latent_width = 8;
  params.block_frames = 2;
  params.cache = &policy;
  ASSERT_TRUE(GenerateBlocks(
                  dit, cap, nullptr, params, nullptr,
                  [](int64_t, const Tensor&) { return absl::OkStatus(); }, nullptr, nullptr)
                  .ok());
  EXPECT_EQ(policy.steps, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(policy.observed, 6);
}

TEST(BlockGeneration, SmallModelsRunOnOneThreadAndRestoreTheCount) {
  const Dit dit = TinyDit();
  const PreparedCaption cap = Caption(dit);
  omp_set_num_threads(2);
  BlockGenerationParams params;
  params.sampling.steps = 1;
  params.sampling.cfg_scale = 1.0;
  params.latent_frames = 2;
  params.latent_height = params.latent_width = 8;
  params.block_frames = 2;
  int threads_inside = 0;
  ASSERT_TRUE(GenerateBlocks(dit, cap, nullptr, params, nullptr, [&](int64_t, const Tensor&) {
                threads_inside = omp_get_max_threads();
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(threads_inside, 1) << "2 x 16 tokens x 64 wide is far below the threading threshold";
  EXPECT_EQ(omp_get_max_threads(), 2);
}

TEST(AttentionKinds, ConfigNamesTheKindAndEveryKindLoads) {
  nlohmann::json j = testing::TinyDitJson();
  j["attention"] = "softmax";
  const absl::StatusOr<DitConfig> softmax = ParseDitConfig(j);
  ASSERT_TRUE(softmax.ok()) << softmax.status();
  EXPECT_EQ(softmax->attention, AttentionKind::kSoftmax);
  WeightStore w = WeightStore::RandomForTesting(1);
  EXPECT_TRUE(Dit::Load(*softmax, w).ok());

  j["attention"] = "sparse_linear";
  const absl::StatusOr<DitConfig> sla = ParseDitConfig(j);
  ASSERT_TRUE(sla.ok()) << sla.status();
  EXPECT_EQ(sla->attention, AttentionKind::kSparseLinear);
  EXPECT_EQ(sla->attention_window, 2);
  // A linear checkpoint lacks the exact branch's projection: the load names it.
  std::map<std::string, Tensor> linear_weights;
  {
    WeightStore random = WeightStore::RandomForTesting(2);
    ASSERT_TRUE(Dit::Load(*ParseDitConfig(testing::TinyDitJson()), random).ok());
    linear_weights = random.invented();
  }
  WeightStore linear = WeightStore::FromTensors(linear_weights, "linear.safetensors");
  const absl::StatusOr<Dit> missing = Dit::Load(*sla, linear);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("attn1.proj_s.weight"), std::string::npos)
      << missing.status();

  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"attention_window", -1}, {"sla_topk", 0.0}, {"sla_topk", 1.5}, {"sla_tile_q", 0}}) {
    nlohmann::json bad = j;
    bad[key] = value;
    const absl::StatusOr<DitConfig> parsed = ParseDitConfig(bad);
    ASSERT_FALSE(parsed.ok()) << key << " = " << value;
    EXPECT_NE(std::string(parsed.status().message()).find(key), std::string::npos)
        << parsed.status();
  }
  j["attention"] = "quadratic";
  const absl::StatusOr<DitConfig> bad = ParseDitConfig(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("expected linear, sparse_linear or softmax"),
            std::string::npos);
  EXPECT_EQ(ParseDitConfig(testing::TinyDitJson())->attention, AttentionKind::kLinear);
}

TEST(AttentionKinds, RequestOverridesAreCheckedAgainstTheKind) {
  nlohmann::json j = testing::TinyDitJson();
  const DitConfig linear = *ParseDitConfig(j);
  AttentionOverrides window;
  window.attention_window = 3;
  EXPECT_EQ(WithAttentionOverrides(linear, window).status().code(),
            absl::StatusCode::kInvalidArgument);
  j["attention"] = "softmax";
  const DitConfig softmax = *ParseDitConfig(j);
  EXPECT_EQ(WithAttentionOverrides(softmax, window)->attention_window, 3);
  AttentionOverrides topk;
  topk.sla_topk = 0.5f;
  EXPECT_FALSE(WithAttentionOverrides(softmax, topk).ok()) << "top-k is sparse_linear's";
  j["attention"] = "sparse_linear";
  const DitConfig sla = *ParseDitConfig(j);
  EXPECT_FLOAT_EQ(WithAttentionOverrides(sla, topk)->sla_topk, 0.5f);
  topk.sla_topk = 0.0f;
  EXPECT_FALSE(WithAttentionOverrides(sla, topk).ok());
  window.attention_window = kMaxAttentionWindow + 1;
  EXPECT_FALSE(WithAttentionOverrides(sla, window).ok());
  EXPECT_EQ(WithAttentionOverrides(sla, AttentionOverrides{})->attention_window,
            sla.attention_window);
}

TEST(AttentionKinds, TileRules) {
  // The kernel's count, the reference's selected_tiles: max(1, min(T, ⌊topk·T + 1e-6⌋)).
  using kernels::cpu::CriticalTileCount;
  EXPECT_EQ(CriticalTileCount(0.1f, 8, true), 1);  // clamped to one
  EXPECT_EQ(CriticalTileCount(0.3f, 10, true), 3);
  EXPECT_EQ(CriticalTileCount(1.0f, 7, true), 7);
  EXPECT_EQ(EffectiveTile(64, 64), 64);
  EXPECT_EQ(EffectiveTile(16, 100), 10);
  EXPECT_EQ(EffectiveTile(64, 0), 64);
}

}  // namespace
}  // namespace reel
