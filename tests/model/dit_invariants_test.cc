// Closed-form invariants of the DiT and the block-autoregressive loop (ARCHITECTURE.md §7), C++
// alone.
#include <algorithm>
#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/sampler/rng.h"
#include "pipeline/sampler/solver.h"
#include "pipeline/tensor/ops.h"
#include "tests/model/tiny_dit.h"

namespace reel {
namespace {

using testing::TinyDit;

using testing::Random;

PreparedCaption Caption(const Dit& dit, uint32_t seed, int valid) {
  std::vector<float> mask(7, 0.0f);
  std::fill(mask.begin(), mask.begin() + valid, 1.0f);
  return *dit.PrepareCaption(Random({7, 24}, seed), *Tensor::FromVector({7}, mask));
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    m = std::max(m, std::abs(double(x[i]) - y[i]));
  return m;
}

// Invariant (1): block by block with the carried state = one block-causal forward over all blocks.
TEST(DitInvariants, CarriedStateEqualsBlockCausalMask) {
  const Dit dit = TinyDit();
  const PreparedCaption cap = Caption(dit, 3, 5);
  const Tensor x0 = Random({4, 2, 8, 8}, 10), x1 = Random({4, 2, 8, 8}, 11),
               x2 = Random({4, 2, 8, 8}, 12);
  const float t = 640.0f;

  ModelState state = *dit.NewState(16);
  ForwardOptions ar;
  ar.state = &state;
  ar.update_state = true;
  ar.frame_offset = 0;
  const Tensor v0 = *dit.Forward(x0, {0.0f}, cap, ar);
  ar.frame_offset = 2;
  const Tensor v1 = *dit.Forward(x1, {0.0f}, cap, ar);
  ar.frame_offset = 4;
  ar.update_state = false;
  const Tensor v2 = *dit.Forward(x2, {t}, cap, ar);

  ForwardOptions full;
  full.causal_block_frames = 2;
  const Tensor all = *ops::Concat({x0, x1, x2}, 1);
  const Tensor v = *dit.Forward(all, {0, 0, 0, 0, t, t}, cap, full);
  EXPECT_LT(MaxAbsDiff(*v.Slice(1, 0, 2), v0), 1e-4);
  EXPECT_LT(MaxAbsDiff(*v.Slice(1, 2, 4), v1), 1e-4);
  EXPECT_LT(MaxAbsDiff(*v.Slice(1, 4, 6), v2), 1e-4);
  // And the mask matters: a bidirectional forward differs in the first block.
  const Tensor vb = *dit.Forward(all, {0, 0, 0, 0, t, t}, cap, ForwardOptions{});
  EXPECT_GT(MaxAbsDiff(*vb.Slice(1, 0, 2), v0), 1e-3);
}

// Invariant (2): the state after two blocks fed one call each equals the state of one block-causal
// call.
TEST(DitInvariants, StateSplitIntoCallsEqualsOneCall) {
  const Dit dit = TinyDit();
  const PreparedCaption cap = Caption(dit, 4, 7);
  const Tensor x0 = Random({4, 2, 8, 8}, 20), x1 = Random({4, 2, 8, 8}, 21);
  ModelState split = *dit.NewState(16), joined = *dit.NewState(16);
  ForwardOptions o;
  o.update_state = true;
  o.state = &split;
  ASSERT_TRUE(dit.Forward(x0, {0.0f}, cap, o).ok());
  o.frame_offset = 2;
  ASSERT_TRUE(dit.Forward(x1, {0.0f}, cap, o).ok());
  ForwardOptions j;
  j.update_state = true;
  j.state = &joined;
  j.causal_block_frames = 2;
  ASSERT_TRUE(dit.Forward(*ops::Concat({x0, x1}, 1), {0.0f}, cap, j).ok());
  for (size_t l = 0; l < split.size(); ++l) {
    EXPECT_LT(MaxAbsDiff(split[l].kv, joined[l].kv),
              1e-3 * (1 + std::abs((*split[l].kv.ToVector())[0])));
    EXPECT_LT(MaxAbsDiff(split[l].ksum, joined[l].ksum), 1e-3);
    EXPECT_LT(MaxAbsDiff(split[l].conv_tail, joined[l].conv_tail), 1e-5);
    EXPECT_EQ(split[l].frames_seen, 4);
  }
}

// The kernel-level form of (2): any chunking of the tokens gives the same state and output.
TEST(DitInvariants, LinearAttentionChunkingIsExact) {
  const int64_t n = 37, heads = 2, d = 8;
  const Tensor q = *ops::Activate(Random({n, heads * d}, 30), ops::Activation::kRelu);
  const Tensor k = *ops::Activate(Random({n, heads * d}, 31), ops::Activation::kRelu);
  const Tensor v = Random({n, heads * d}, 32);
  Tensor kv_whole = *Tensor::Zeros({heads, d, d}), ks_whole = *Tensor::Zeros({heads, d});
  ASSERT_TRUE(ops::LinearAttentionAccumulate(k, k, v, heads, kv_whole, ks_whole).ok());
  for (std::vector<int64_t> cuts :
       {std::vector<int64_t>{0, 1, 37}, {0, 10, 11, 30, 37}, {0, 36, 37}}) {
    Tensor kv = *Tensor::Zeros({heads, d, d}), ks = *Tensor::Zeros({heads, d});
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      const Tensor kc = *k.Slice(0, cuts[c], cuts[c + 1]), vc = *v.Slice(0, cuts[c], cuts[c + 1]);
      ASSERT_TRUE(ops::LinearAttentionAccumulate(kc, kc, vc, heads, kv, ks).ok());
    }
    EXPECT_LT(MaxAbsDiff(kv, kv_whole), 1e-4);
    EXPECT_LT(MaxAbsDiff(ks, ks_whole), 1e-4);
    EXPECT_LT(MaxAbsDiff(*ops::LinearAttentionApply(q, q, kv, ks, heads, 1e-15f),
                         *ops::LinearAttentionApply(q, q, kv_whole, ks_whole, heads, 1e-15f)),
              1e-4);
  }
}

// Invariant (3): guidance scale 1 is the conditional branch alone (a hand-written Euler loop).
TEST(DitInvariants, CfgScaleOneEqualsConditionalBranch) {
  const Dit dit = TinyDit();
  const PreparedCaption cond = Caption(dit, 5, 6), uncond = Caption(dit, 6, 1);
  const Tensor noise = Random({4, 2, 8, 8}, 40);
  SamplingParams p{3, 1.0, "euler", 3.0};
  const Tensor guided = *Denoise(dit, noise, cond, &uncond, p, ForwardOptions{});
  Tensor x = *noise.Clone();
  const std::unique_ptr<FlowSolver> solver = *MakeFlowSolver("euler", 3, 3.0);
  for (int i = 0; i < 3; ++i) {
    const Tensor v =
        *dit.Forward(x, {static_cast<float>(1000 * solver->sigma(i))}, cond, ForwardOptions{});
    ASSERT_TRUE(solver->Step(i, v, x).ok());
  }
  EXPECT_EQ(MaxAbsDiff(guided, x), 0.0);
  p.cfg_scale = 4.0;
  EXPECT_GT(MaxAbsDiff(*Denoise(dit, noise, cond, &uncond, p, ForwardOptions{}), x), 1e-3);
}

// Invariant (4): the same seed gives bit-identical videos; another seed does not.
TEST(DitInvariants, SameSeedIsBitIdentical) {
  const Dit dit = TinyDit();
  const PreparedCaption cond = Caption(dit, 7, 4), uncond = Caption(dit, 8, 1);
  BlockGenerationParams p;
  p.sampling = {2, 3.0, "dpm++2m", 3.0};
  p.latent_frames = 4;
  p.latent_height = 8;
  p.latent_width = 8;
  p.block_frames = 2;
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    std::vector<float> out;
    EXPECT_TRUE(GenerateBlocks(dit, cond, &uncond, p, nullptr, [&](int64_t, const Tensor& t) {
                  const std::vector<float> v = *t.ToVector();
                  out.insert(out.end(), v.begin(), v.end());
                  return absl::OkStatus();
                }).ok());
    return out;
  };
  const std::vector<float> a = run(42), b = run(42), c = run(43);
  ASSERT_EQ(a.size(), 4u * 4 * 8 * 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(DitInvariants, CancelStopsWithinOneStep) {
  const Dit dit = TinyDit();
  const PreparedCaption cond = Caption(dit, 7, 4);
  BlockGenerationParams p;
  p.sampling = {5, 1.0, "euler", 3.0};
  p.latent_frames = 4;
  p.latent_height = 8;
  p.latent_width = 8;
  p.block_frames = 2;
  std::atomic<bool> cancel{false};
  int steps_seen = 0;
  const absl::Status s = GenerateBlocks(
      dit, cond, nullptr, p, nullptr, [](int64_t, const Tensor&) { return absl::OkStatus(); },
      [&](int, int, int, int) {
        if (++steps_seen == 2) cancel = true;
      },
      &cancel);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(steps_seen, 2);
}

TEST(DitErrors, BadShapesAndConfigsGiveClearMessages) {
  const Dit dit = TinyDit();
  const PreparedCaption cap = Caption(dit, 1, 3);
  const absl::StatusOr<Tensor> odd =
      dit.Forward(Random({4, 3, 8, 8}, 1), {1.0f}, cap, ForwardOptions{.causal_block_frames = 2});
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(odd.status().message()).find("not divisible by the block size"),
            std::string::npos);
  const absl::StatusOr<Tensor> bad_hw =
      dit.Forward(Random({4, 2, 7, 8}, 1), {1.0f}, cap, ForwardOptions{});
  EXPECT_NE(std::string(bad_hw.status().message()).find("multiples of the patch"),
            std::string::npos);

  nlohmann::json j = testing::TinyDitJson();
  j["hiden_size"] = 3;
  const absl::StatusOr<DitConfig> typo = ParseDitConfig(j);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(std::string(typo.status().message()).find("unknown key 'hiden_size'"),
            std::string::npos);

  // A checkpoint with a mis-shaped and a missing weight: both named in one message.
  std::map<std::string, Tensor> tensors;
  tensors["patch_embedding.weight"] = *Tensor::Zeros({64, 4, 1, 2, 3});
  tensors["bogus.weight"] = *Tensor::Zeros({1});
  WeightStore w = WeightStore::FromTensors(tensors, "ckpt");
  const absl::StatusOr<Dit> loaded = Dit::Load(*ParseDitConfig(testing::TinyDitJson()), w);
  ASSERT_FALSE(loaded.ok());
  const std::string msg(loaded.status().message());
  EXPECT_NE(msg.find("'patch_embedding.weight': shape [64,4,1,2,3], expected [64,4,1,2,2]"),
            std::string::npos);
  EXPECT_NE(msg.find("'proj_out.bias' missing"), std::string::npos);
  EXPECT_NE(msg.find("unexpected weight 'bogus.weight'"), std::string::npos);
}

}  // namespace
}  // namespace reel
