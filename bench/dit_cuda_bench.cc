// The DiT end to end on a GPU at SANA-Video-2B's shape with random weights (issue 19): seconds per
// video for the paper's setting (480x832, 81 frames = 21 latent frames, 50 steps, CFG as one
// batched pair of branches), the same at 720x1280, and the block-autoregressive long mode (chunks
// of 10 latent frames, 4 steps, no CFG) in generated frames per second; achieved TFLOP/s of a
// denoising step from the analytic FLOP count (DitStepFlops, the formula
// tools/gpu/torch_baseline.py uses too). Any device: `--device cpu --shape tiny` is the smoke test
// that runs without a GPU.
//
//   reel_bench_dit_cuda [--device cuda] [--precision bf16] [--shape sana2b|tiny]
//                       [--only bidirectional,hd,long] [--steps-timed 3] [--out FILE.json]
//                       [--budget-seconds 240]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "pipeline/generate/denoise.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/model/placement.h"
#include "pipeline/model/weights.h"
#include "pipeline/tensor/device_memory.h"

namespace reel::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

[[noreturn]] void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "reel_bench_dit_cuda: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T OrDie(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(v.status(), what);
  return *std::move(v);
}

struct Shape2b {
  nlohmann::json transformer;
  int64_t caption_tokens;
  // Latent grids (channels fixed by the config): (frames, height, width).
  int64_t frames, height, width, hd_height, hd_width, long_chunk;
};

Shape2b ShapeOf(const std::string& name) {
  if (name == "sana2b") {
    // SANA-Video 2B (diffusers SanaVideoTransformer3DModel): 20 layers of hidden 2240 = 20 heads x
    // 112, Mix-FFN 6720, Gemma-2 captions of 2304 x 300 tokens, Wan2.1 latents (16 channels,
    // 8x spatial, 4x temporal compression).
    return {{{"in_channels", 16},
             {"out_channels", 16},
             {"patch_size", {1, 2, 2}},
             {"hidden_size", 2240},
             {"num_layers", 20},
             {"num_heads", 20},
             {"head_dim", 112},
             {"cross_num_heads", 20},
             {"cross_head_dim", 112},
             {"caption_dim", 2304},
             {"ffn_hidden", 6720},
             {"block_frames", 1},
             {"temporal_conv", "causal"}},
            300,
            21,
            60,
            104,
            90,
            160,
            10};
  }
  return {{{"in_channels", 4},
           {"out_channels", 4},
           {"patch_size", {1, 2, 2}},
           {"hidden_size", 64},
           {"num_layers", 2},
           {"num_heads", 2},
           {"head_dim", 32},
           {"cross_num_heads", 2},
           {"cross_head_dim", 32},
           {"caption_dim", 24},
           {"ffn_hidden", 96},
           {"block_frames", 1},
           {"temporal_conv", "causal"}},
          7,
          4,
          8,
          8,
          8,
          16,
          2};
}

// FLOPs of one DiT forward (multiply-adds x 2) over `tokens` video tokens and `branches` guidance
// branches, counting the matrix products: per token and layer, self-attention projections q, k, v,
// out (8D^2), cross-attention q and out (4D^2; the caption's k, v are per request), the Mix-FFN's
// inverted (D -> 2F: 4DF) and point (F -> D: 2DF) convolutions, its temporal conv (3 taps of D x D:
// 6D^2), linear attention's state accumulation and readout (2Dd each: d x d per head) and
// cross-attention over L caption tokens (q.k and p.v: 4LD). Element-wise work, the depthwise conv,
// the patch embedding and the output layer are left out (under 1%).
double DitStepFlops(const DitConfig& c, int64_t tokens, int branches, int64_t caption_tokens) {
  const double d = c.hidden_size, f = c.ffn_hidden, hd = c.head_dim, l = caption_tokens;
  const double per_token_layer = 18 * d * d + 6 * d * f + 4 * d * hd + 4 * l * d;
  return per_token_layer * c.num_layers * static_cast<double>(tokens) * branches;
}

struct Args {
  std::string device = "cuda", precision, shape = "sana2b", out;
  std::vector<std::string> only = {"bidirectional", "hd", "long"};
  int steps_timed = 3;
  double budget_s = 240;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--device")
      a.device = v;
    else if (k == "--precision")
      a.precision = v;
    else if (k == "--shape")
      a.shape = v;
    else if (k == "--out")
      a.out = v;
    else if (k == "--only")
      a.only = absl::StrSplit(v, ',');
    else if (k == "--steps-timed")
      a.steps_timed = std::atoi(v.c_str());
    else if (k == "--budget-seconds")
      a.budget_s = std::atof(v.c_str());
    else {
      std::fprintf(stderr, "reel_bench_dit_cuda: unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

PreparedCaption RandomCaption(const Dit& dit, int64_t tokens, int64_t dim, uint32_t seed) {
  std::vector<float> v(tokens * dim), mask(tokens, 1.0f);
  uint32_t s = seed;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 16777216.0f * 2.0f - 1.0f;
  }
  return OrDie(dit.PrepareCaption(*Tensor::FromVector({tokens, dim}, v),
                                  *Tensor::FromVector({tokens}, mask)),
               "caption");
}

Tensor RandomLatents(Shape shape, uint32_t seed) {
  std::vector<float> v(NumElements(shape));
  uint32_t s = seed;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 16777216.0f * 2.0f - 1.0f;
  }
  return *Tensor::FromVector(shape, v);
}

// Seconds per bidirectional CFG step over a (C, frames, h, w) latent grid: one warm-up step, then
// the fastest of `timed` (each step ends with the velocity on the host, i.e. synchronized).
nlohmann::json TimeBidirectional(const Dit& dit, const PreparedCaption& cond,
                                 const PreparedCaption& uncond, int64_t frames, int64_t h,
                                 int64_t w, int timed, int64_t caption_tokens) {
  const DitConfig& c = dit.config();
  const Tensor x = RandomLatents({c.in_channels, frames, h, w}, 11);
  const PreparedCaption* both[] = {&cond, &uncond};
  nlohmann::json r;
  r["latents"] = {c.in_channels, frames, h, w};
  const int64_t tokens = frames * (h / 2) * (w / 2);
  r["tokens"] = tokens;
  auto step = [&] { return dit.ForwardBranches(x, {700.0f}, both, {}); };
  const absl::StatusOr<std::vector<Tensor>> warm = step();
  if (!warm.ok()) {
    r["error"] = warm.status().ToString();
    return r;
  }
  double best = 1e30;
  for (int i = 0; i < timed; ++i) {
    const auto t = Clock::now();
    OrDie(step(), "step");
    best = std::min(best, Since(t));
  }
  const double flops = DitStepFlops(c, tokens, 2, caption_tokens);
  r["ms_per_step"] = best * 1e3;
  r["seconds_per_video_50_steps"] = best * 50;
  r["step_tflop"] = flops / 1e12;
  r["achieved_tflops"] = flops / best / 1e12;
  r["peak_device_bytes"] = OrDie(MemoryStats(dit.device()), "memory").peak_bytes;
  r["note"] = "50-step figure = 50 x the fastest of the timed steps (after one warm-up step)";
  return r;
}

// Block-autoregressive generation: chunks of `chunk` latent frames, 4 steps, no CFG, with the
// state-update pass per chunk (GenerateBlocks); one warm-up chunk, then `chunks` timed.
nlohmann::json TimeLong(const Dit& dit, const PreparedCaption& cond, int64_t chunk, int64_t h,
                        int64_t w, int chunks) {
  nlohmann::json r;
  BlockGenerationParams p;
  p.sampling.steps = 4;
  p.sampling.cfg_scale = 1.0;
  p.sampling.solver = "euler";
  p.latent_frames = chunk * (chunks + 1);
  p.latent_height = h;
  p.latent_width = w;
  p.block_frames = static_cast<int>(chunk);
  p.seed = 5;
  std::vector<double> finished;
  auto t0 = Clock::now();
  const absl::Status s =
      GenerateBlocks(dit, cond, nullptr, p, nullptr, [&](int64_t, const Tensor&) {
        finished.push_back(Since(t0));
        return absl::OkStatus();
      });
  if (!s.ok()) {
    r["error"] = s.ToString();
    return r;
  }
  const double timed = finished.back() - finished.front();
  const double video_frames = 4.0 * chunk * chunks;  // Wan VAE: 4 video frames per latent frame
  r["chunk_latent_frames"] = chunk;
  r["latents_hw"] = {h, w};
  r["chunks_timed"] = chunks;
  r["seconds_per_chunk"] = timed / chunks;
  r["generated_fps"] = video_frames / timed;
  r["note"] =
      "DiT only (4 steps + the state-update pass per chunk); 4 video frames per latent frame; the "
      "first chunk is the warm-up";
  return r;
}

int Main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  const PlacementChoice placement = OrDie(ResolvePlacement(a.device, a.precision), "--device");
  const Shape2b shape = ShapeOf(a.shape);
  const DitConfig config = OrDie(ParseDitConfig(shape.transformer), "config");
  std::printf("%s\n", placement.line.c_str());
  const auto start = Clock::now();
  Dit dit;
  {
    WeightStore weights = WeightStore::RandomForTesting(3);
    const Dit host = OrDie(Dit::Load(config, weights), "load");
    dit = OrDie(host.Placed(placement.placement), "place");
  }
  nlohmann::json out;
  out["device"] = placement.line;
  out["backend"] = BackendLine(DescribeBackends());
  out["precision"] = PrecisionName(placement.placement.precision);
  out["shape"] = a.shape;
  out["transformer"] = shape.transformer;
  out["caption_tokens"] = shape.caption_tokens;
  out["load_seconds"] = Since(start);
  std::printf("model ready in %.1f s\n", Since(start));
  const PreparedCaption cond = RandomCaption(dit, shape.caption_tokens, config.caption_dim, 1);
  const PreparedCaption uncond = RandomCaption(dit, shape.caption_tokens, config.caption_dim, 2);
  const auto wanted = [&](const char* name) {
    return std::find(a.only.begin(), a.only.end(), name) != a.only.end() &&
           Since(start) < a.budget_s;
  };
  if (wanted("bidirectional")) {
    out["bidirectional_480x832"] =
        TimeBidirectional(dit, cond, uncond, shape.frames, shape.height, shape.width, a.steps_timed,
                          shape.caption_tokens);
    std::printf("480x832: %s\n", out["bidirectional_480x832"].dump().c_str());
  }
  if (wanted("hd")) {
    out["bidirectional_720x1280"] =
        TimeBidirectional(dit, cond, uncond, shape.frames, shape.hd_height, shape.hd_width,
                          std::max(1, a.steps_timed - 1), shape.caption_tokens);
    std::printf("720x1280: %s\n", out["bidirectional_720x1280"].dump().c_str());
  }
  if (wanted("long")) {
    out["long_480x832"] = TimeLong(dit, cond, shape.long_chunk, shape.height, shape.width, 3);
    std::printf("long: %s\n", out["long_480x832"].dump().c_str());
  }
  out["total_seconds"] = Since(start);
  if (!a.out.empty()) std::ofstream(a.out) << out.dump(2) << "\n";
  return 0;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) { return reel::bench::Main(argc, argv); }
