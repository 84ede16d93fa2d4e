// Feature caching inside real sampling: a policy that never trusts its forecast changes no bit of
// block-autoregressive generation, and a skipped step's velocity is the output head applied to the
// policy's forecast.
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/cache/make_feature_cache.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/tensor/ops.h"
#include "tests/model/tiny_dit.h"

namespace reel {
namespace {

Dit FourLayerDit() {
  nlohmann::json j = testing::TinyDitJson();
  j["num_layers"] = 4;
  WeightStore w = WeightStore::RandomForTesting(3);
  return *Dit::Load(*ParseDitConfig(j), w);
}

using testing::Random;

PreparedCaption Caption(const Dit& dit, uint32_t seed) {
  return *dit.PrepareCaption(Random({5, 24}, seed), *Tensor::FromVector({5}, {1, 1, 1, 1, 0}));
}

// Three blocks of two latent frames, CFG 3, 6 DPM++ steps; returns every block's latents.
std::vector<float> Generate(const Dit& dit, CachePolicy* cache) {
  const PreparedCaption cond = Caption(dit, 7), uncond = Caption(dit, 8);
  BlockGenerationParams p;
  p.sampling.steps = 6;
  p.sampling.cfg_scale = 3.0;
  p.latent_frames = 6;
  p.latent_height = p.latent_width = 8;
  p.block_frames = 2;
  p.seed = 11;
  p.cache = cache;
  std::vector<float> all;
  EXPECT_TRUE(GenerateBlocks(dit, cond, &uncond, p, nullptr, [&](int64_t, const Tensor& x) {
                const std::vector<float> v = *x.ToVector();
                all.insert(all.end(), v.begin(), v.end());
                return absl::OkStatus();
              }).ok());
  return all;
}

TEST(CachedGeneration, PoliciesThatNeverSkipAreBitIdenticalToNoCache) {
  const Dit dit = FourLayerDit();
  const std::vector<float> plain = Generate(dit, nullptr);
  LocalCommunicator local;
  for (CachePolicyKind kind :
       {CachePolicyKind::kFbCache, CachePolicyKind::kTaylorSeer, CachePolicyKind::kCgTaylor}) {
    CacheOptions o = DefaultCacheOptions(kind);
    o.threshold = 0.0;
    o.interval = 1;
    o.warmup_steps = 0;
    auto cache = *MakeFeatureCache(o, 6, 4, local);
    EXPECT_EQ(Generate(dit, cache.get()), plain) << CachePolicyName(kind);
    EXPECT_EQ(cache->stats().forwards_computed, 3 * 6) << CachePolicyName(kind);
  }
  // The same policies allowed to skip do skip here, and then the latents differ: the comparison
  // above can fail.
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kTaylorSeer);
  o.warmup_steps = 1;
  o.interval = 2;
  auto skipping = *MakeFeatureCache(o, 6, 4, local);
  EXPECT_NE(Generate(dit, skipping.get()), plain);
  EXPECT_EQ(skipping->stats().forwards_skipped, 3 * 2);  // steps 2 and 4 of every block
}

// Delegates to a policy and keeps what its last forecast was.
class ForecastSpy final : public CachePolicy {
 public:
  explicit ForecastSpy(CachePolicy& inner) : inner_(inner) {}
  absl::StatusOr<bool> ShouldCompute(int step, const Tensor& first) override {
    return inner_.ShouldCompute(step, first);
  }
  absl::StatusOr<Tensor> Forecast(int step) override {
    absl::StatusOr<Tensor> f = inner_.Forecast(step);
    if (f.ok()) forecast = *f->Clone();
    return f;
  }
  absl::Status Observe(int step, const Tensor& first, const Tensor& last) override {
    return inner_.Observe(step, first, last);
  }
  Tensor forecast;

 private:
  CachePolicy& inner_;
};

// Always skips and hands back a fixed tensor.
class Replay final : public CachePolicy {
 public:
  explicit Replay(Tensor t) : t_(std::move(t)) {}
  absl::StatusOr<bool> ShouldCompute(int, const Tensor&) override { return false; }
  absl::StatusOr<Tensor> Forecast(int) override { return t_.Clone(); }
  absl::Status Observe(int, const Tensor&, const Tensor&) override { return absl::OkStatus(); }

 private:
  Tensor t_;
};

TEST(CachedGeneration, ASkippedStepIsTheHeadAppliedToTheForecast) {
  const Dit dit = FourLayerDit();
  const PreparedCaption cond = Caption(dit, 7), uncond = Caption(dit, 8);
  const PreparedCaption* both[] = {&cond, &uncond};
  LocalCommunicator local;
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kCgTaylor);
  o.threshold = 1.0;  // trust any forecast better than none
  o.warmup_steps = 2;
  o.final_step = false;
  auto cg = *MakeFeatureCache(o, 4, 4, local);
  ForecastSpy spy(*cg);
  const Tensor a = Random({4, 2, 8, 8}, 1), b = Random({4, 2, 8, 8}, 2);
  for (int step = 0; step < 3; ++step) {
    // A trajectory from a towards b, timesteps falling as in sampling.
    Tensor x = *a.Clone();
    ASSERT_TRUE(ops::Axpby(0.2f * step, b, 1.0f - 0.2f * step, x).ok());
    const float t = 900.0f - 200.0f * step;
    ForwardOptions options;
    options.cache = &spy;
    options.step = step;
    const std::vector<Tensor> v = *dit.ForwardBranches(x, {t}, both, options);
    if (step < 2) continue;
    ASSERT_EQ(cg->stats().forwards_skipped, 1) << "step 2 is past the warm-up and trusted";
    Replay replay(spy.forecast);
    options.cache = &replay;
    const std::vector<Tensor> from_forecast = *dit.ForwardBranches(x, {t}, both, options);
    EXPECT_EQ(*v[0].ToVector(), *from_forecast[0].ToVector());
    EXPECT_EQ(*v[1].ToVector(), *from_forecast[1].ToVector());
    const std::vector<Tensor> full = *dit.ForwardBranches(x, {t}, both, ForwardOptions{});
    EXPECT_NE(*v[0].ToVector(), *full[0].ToVector()) << "the skip did change the output";
  }
}

}  // namespace
}  // namespace reel
