// DiT forward passes at reel-tiny's shape and at a larger one, with the arena-free heap allocator,
// to find where the time goes (per-block latency is what a user waits for between streamed blocks).
#include <random>

#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/model/weights.h"

namespace reel {
namespace {

struct Setup {
  Dit dit;
  PreparedCaption caption;
};

Setup Make(int hidden, int layers, int heads) {
  const nlohmann::json j = {
      {"in_channels", 8},           {"out_channels", 8},        {"patch_size", {1, 2, 2}},
      {"hidden_size", hidden},      {"num_layers", layers},     {"num_heads", heads},
      {"head_dim", hidden / heads}, {"cross_num_heads", heads}, {"cross_head_dim", hidden / heads},
      {"caption_dim", 128},         {"ffn_hidden", hidden * 2}, {"block_frames", 1}};
  WeightStore w = WeightStore::RandomForTesting(3);
  Setup s{*Dit::Load(*ParseDitConfig(j), w), {}};
  std::vector<float> cap(32 * 128, 0.1f), mask(32, 1.0f);
  s.caption =
      *s.dit.PrepareCaption(*Tensor::FromVector({32, 128}, cap), *Tensor::FromVector({32}, mask));
  return s;
}

// One denoising forward of a block of `frames` latent frames at 16×16 latents, with state.
void BM_DitBlockForward(benchmark::State& state) {
  const int hidden = static_cast<int>(state.range(0)), layers = static_cast<int>(state.range(1));
  const int64_t frames = state.range(2);
  Setup s = Make(hidden, layers, hidden / 32);
  std::vector<float> x(8 * frames * 16 * 16, 0.3f);
  const Tensor latents = *Tensor::FromVector({8, frames, 16, 16}, x);
  ModelState st = *s.dit.NewState(64);
  ForwardOptions o;
  o.state = &st;
  for (auto _ : state) benchmark::DoNotOptimize(s.dit.Forward(latents, {500.0f}, s.caption, o));
  state.counters["tokens"] = static_cast<double>(frames * 64);
}
BENCHMARK(BM_DitBlockForward)
    ->Args({128, 6, 1})
    ->Args({128, 6, 4})
    ->Args({256, 4, 8})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace reel
