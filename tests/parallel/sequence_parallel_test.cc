// Spatial sequence parallelism (ARCHITECTURE.md §4) against one rank: N = 2, 3, 4 ranks over Gloo
// (threads of this process, loopback) give the same velocities, the same block-autoregressive
// latents over 3 blocks (within 1e-4), and the same per-layer state on every rank — on a random
// TinyDit, a wider random model, and models/reel-tiny. Token rows are chosen so that most splits
// are uneven.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/model/config.h"
#include "pipeline/model/weights.h"
#include "pipeline/parallel/worker_groups.h"
#include "pipeline/sampler/rng.h"
#include "tests/model/tiny_dit.h"
#include "tests/parallel/rank_threads.h"

namespace reel {
namespace {

using testing::RunRanks;

using testing::Random;

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(double{x[i]} - y[i]));
  return m;
}

bool BitEqual(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && *a.ToVector() == *b.ToVector();
}

struct Captions {
  PreparedCaption cond, uncond;
};

Captions MakeCaptions(const Dit& dit) {
  const int64_t dim = dit.config().caption_dim;
  return {*dit.PrepareCaption(Random({5, dim}, 7), *Tensor::FromVector({5}, {1, 1, 1, 0, 0})),
          *dit.PrepareCaption(Random({5, dim}, 8), *Tensor::FromVector({5}, {1, 0, 0, 0, 0}))};
}

// What one rank ends with after block-autoregressive generation: every block's clean latents and
// the state after the last update.
struct Generation {
  std::vector<Tensor> blocks;
  ModelState state;
};

struct VideoShape {
  int64_t height, width;  // latent
  int blocks = 3;
  int steps = 2;
  double cfg = 3.0;
};

// GenerateBlocks' loop (denoise each block reading the state, then one clean pass adding it),
// kept here so that the state can be compared too; the production loop is compared below.
absl::StatusOr<Generation> Generate(const Dit& dit, const Captions& cap, const VideoShape& v,
                                    const ParallelContext& parallel) {
  const DitConfig& c = dit.config();
  const int64_t block_latent = c.block_frames * c.patch_size[0];
  const int64_t spatial = (v.height / c.patch_size[1]) * (v.width / c.patch_size[2]);
  Generation g;
  absl::StatusOr<ModelState> state = dit.NewState(spatial);
  if (!state.ok()) return state.status();
  g.state = std::move(*state);
  SamplingParams sampling{v.steps, v.cfg, "dpm++2m", 3.0};
  for (int b = 0; b < v.blocks; ++b) {
    absl::StatusOr<Tensor> noise =
        LatentNoise(11, c.in_channels, b * block_latent, block_latent, v.height, v.width);
    if (!noise.ok()) return noise.status();
    ForwardOptions options;
    options.frame_offset = b * c.block_frames;
    options.state = &g.state;
    options.parallel = parallel;
    absl::StatusOr<Tensor> clean = Denoise(dit, *noise, cap.cond, &cap.uncond, sampling, options);
    if (!clean.ok()) return clean.status();
    options.update_state = true;
    if (absl::Status s = dit.Forward(*clean, {0.0f}, cap.cond, options).status(); !s.ok()) return s;
    g.blocks.push_back(std::move(*clean));
  }
  return g;
}

// N ranks against one: latents within 1e-4, states bit-equal across ranks and within 1e-4 of the
// single rank's (relative to the state's scale for the sums).
void ExpectRanksEqualOne(const Dit& dit, const VideoShape& v, int world) {
  const Captions cap = MakeCaptions(dit);
  omp_set_num_threads(1);
  const absl::StatusOr<Generation> one = Generate(dit, cap, v, ParallelContext{});
  ASSERT_TRUE(one.ok()) << one.status();
  std::vector<Generation> ranks(world);
  const std::vector<absl::Status> statuses = RunRanks(world, [&](Communicator& comm) {
    omp_set_num_threads(1);
    absl::StatusOr<Generation> g = Generate(dit, cap, v, ParallelContext{&comm});
    if (!g.ok()) return g.status();
    ranks[comm.rank()] = std::move(*g);
    return absl::OkStatus();
  });
  for (int r = 0; r < world; ++r)
    ASSERT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
  double worst_latent = 0, worst_state = 0;
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(ranks[r].blocks.size(), one->blocks.size());
    for (size_t b = 0; b < one->blocks.size(); ++b) {
      worst_latent = std::max(worst_latent, MaxAbsDiff(ranks[r].blocks[b], one->blocks[b]));
    }
    for (size_t l = 0; l < one->state.size(); ++l) {
      const BlockState &s = ranks[r].state[l], &o = one->state[l], &s0 = ranks[0].state[l];
      EXPECT_TRUE(BitEqual(s.kv, s0.kv) && BitEqual(s.ksum, s0.ksum) &&
                  BitEqual(s.conv_tail, s0.conv_tail) && s.frames_seen == s0.frames_seen)
          << "rank " << r << " layer " << l << ": the state differs from rank 0's";
      EXPECT_EQ(s.frames_seen, o.frames_seen);
      // kv and ksum are sums over every token seen so far: compare relative to their scale.
      const double scale = 1.0 + std::sqrt(MaxAbsDiff(o.ksum, *Tensor::Zeros(o.ksum.shape())));
      worst_state = std::max({worst_state, MaxAbsDiff(s.kv, o.kv) / (scale * scale),
                              MaxAbsDiff(s.ksum, o.ksum) / (scale * scale),
                              MaxAbsDiff(s.conv_tail, o.conv_tail)});
    }
  }
  EXPECT_LT(worst_latent, 1e-4) << world << " ranks";
  EXPECT_LT(worst_state, 1e-4) << world << " ranks";
  std::printf("[ figures ] %d ranks: max |latent − 1 rank| = %.3g, max state error = %.3g\n", world,
              worst_latent, worst_state);
}

class SequenceParallel : public ::testing::TestWithParam<int> {};

TEST_P(SequenceParallel, OneForwardEqualsOneRank) {
  // 5 token rows: bands 3+2, 2+2+1, 2+1+1+1. Both guidance branches, bidirectional over 4 frames.
  const Dit dit = testing::TinyDit();
  const Captions cap = MakeCaptions(dit);
  const Tensor x = Random({4, 4, 10, 8}, 3);
  const PreparedCaption* both[] = {&cap.cond, &cap.uncond};
  const std::vector<Tensor> one = *dit.ForwardBranches(x, {400.0f}, both, ForwardOptions{});
  const int world = GetParam();
  std::vector<std::vector<Tensor>> got(world);
  const std::vector<absl::Status> statuses = RunRanks(world, [&](Communicator& comm) {
    ForwardOptions options;
    options.parallel.comm = &comm;
    absl::StatusOr<std::vector<Tensor>> v = dit.ForwardBranches(x, {400.0f}, both, options);
    if (!v.ok()) return v.status();
    got[comm.rank()] = std::move(*v);
    return absl::OkStatus();
  });
  for (int r = 0; r < world; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
    for (int b = 0; b < 2; ++b) EXPECT_LT(MaxAbsDiff(got[r][b], one[b]), 1e-4) << r << "/" << b;
  }
}

TEST_P(SequenceParallel, TinyDitBlockGenerationEqualsOneRank) {
  ExpectRanksEqualOne(testing::TinyDit(), {.height = 10, .width = 6}, GetParam());
}

TEST_P(SequenceParallel, WiderRandomModelEqualsOneRank) {
  nlohmann::json j = testing::TinyDitJson();
  j["hidden_size"] = 128;
  j["num_heads"] = 4;
  j["cross_num_heads"] = 4;
  j["num_layers"] = 3;
  j["ffn_hidden"] = 256;
  j["block_frames"] = 1;
  WeightStore w = WeightStore::RandomForTesting(5);
  const Dit dit = *Dit::Load(*ParseDitConfig(j), w);
  ExpectRanksEqualOne(dit, {.height = 14, .width = 12}, GetParam());
}

TEST_P(SequenceParallel, ReelTinyEqualsOneRank) {
  const std::string dir = "models/reel-tiny";
  const absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<WeightStore> weights = WeightStore::Open(dir + "/transformer.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status();
  const absl::StatusOr<Dit> dit = Dit::Load(config->transformer, *weights);
  ASSERT_TRUE(dit.ok()) << dit.status();
  // 80 × 48 pixels: 10 × 6 latents, 5 token rows.
  ExpectRanksEqualOne(*dit, {.height = 10, .width = 6, .blocks = 3, .steps = 3, .cfg = 4.5},
                      GetParam());
}

TEST_P(SequenceParallel, ProductionLoopEqualsOneRank) {
  // GenerateBlocks itself with BlockGenerationParams::parallel (what the renderer runs).
  const Dit dit = testing::TinyDit();
  const Captions cap = MakeCaptions(dit);
  BlockGenerationParams p;
  p.sampling = {2, 3.0, "dpm++2m", 3.0};
  p.latent_frames = 6;
  p.latent_height = 10;
  p.latent_width = 6;
  p.block_frames = 2;
  p.seed = 5;
  auto run = [&](const ParallelContext& parallel) -> absl::StatusOr<std::vector<Tensor>> {
    BlockGenerationParams q = p;
    q.parallel = parallel;
    std::vector<Tensor> blocks;
    absl::Status s =
        GenerateBlocks(dit, cap.cond, &cap.uncond, q, nullptr, [&](int64_t, const Tensor& latents) {
          blocks.push_back(*latents.Clone());
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return blocks;
  };
  const std::vector<Tensor> one = *run(ParallelContext{});
  const int world = GetParam();
  std::vector<std::vector<Tensor>> got(world);
  const std::vector<absl::Status> statuses = RunRanks(world, [&](Communicator& comm) {
    absl::StatusOr<std::vector<Tensor>> blocks = run(ParallelContext{&comm});
    if (!blocks.ok()) return blocks.status();
    got[comm.rank()] = std::move(*blocks);
    return absl::OkStatus();
  });
  for (int r = 0; r < world; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
    ASSERT_EQ(got[r].size(), 3u);
    for (size_t b = 0; b < 3; ++b) EXPECT_LT(MaxAbsDiff(got[r][b], one[b]), 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, SequenceParallel, ::testing::Values(2, 3, 4));

// CFG parallelism, alone (2 ranks) and composed with sequence parallelism (2 × 2, 2 × 3): the
// latents of 3 blocks equal one rank's batched-branch generation, and every rank ends with the
// same state.
class CfgParallel : public ::testing::TestWithParam<int> {};

TEST_P(CfgParallel, EqualsOneRank) {
  const Dit dit = testing::TinyDit();
  const VideoShape v{.height = 10, .width = 6};
  const Captions cap = MakeCaptions(dit);
  omp_set_num_threads(1);
  const absl::StatusOr<Generation> one = Generate(dit, cap, v, ParallelContext{});
  ASSERT_TRUE(one.ok()) << one.status();
  const int world = GetParam();
  std::vector<Generation> ranks(world);
  const std::vector<absl::Status> statuses =
      testing::RunThreads(world, [&](int r, const std::string& address) -> absl::Status {
        omp_set_num_threads(1);
        absl::StatusOr<WorkerGroups> groups =
            WorkerGroups::Join(testing::GroupFor(address, r, world), /*cfg_parallel=*/true);
        if (!groups.ok()) return groups.status();
        absl::StatusOr<Generation> g = Generate(dit, cap, v, groups->context());
        if (!g.ok()) return g.status();
        ranks[r] = std::move(*g);
        return absl::OkStatus();
      });
  double worst = 0;
  for (int r = 0; r < world; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
    for (size_t b = 0; b < one->blocks.size(); ++b) {
      worst = std::max(worst, MaxAbsDiff(ranks[r].blocks[b], one->blocks[b]));
    }
    for (size_t l = 0; l < one->state.size(); ++l) {
      EXPECT_TRUE(BitEqual(ranks[r].state[l].kv, ranks[0].state[l].kv) &&
                  BitEqual(ranks[r].state[l].conv_tail, ranks[0].state[l].conv_tail))
          << "rank " << r << " layer " << l;
    }
  }
  EXPECT_LT(worst, 1e-4);
  std::printf("[ figures ] CFG parallel over %d ranks: max |latent − 1 rank| = %.3g\n", world,
              worst);
}

TEST(CfgParallel, AnOddWorldIsRefused) {
  testing::TempRendezvous rdv;
  EXPECT_EQ(WorkerGroups::Join(testing::GroupFor(rdv.path(), 0, 3), true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Ranks, CfgParallel, ::testing::Values(2, 4, 6));

}  // namespace
}  // namespace reel
