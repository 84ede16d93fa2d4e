// `reel bench`: the C++ engine against the PyTorch reference on the same model, steps and threads
// (ratio printed side by side in one run), and time per block + peak memory of block-autoregressive
// generation at 1×, 4× and 10× video length (each length in a fresh child process, peak RSS =
// VmHWM).
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/tensor/safetensors.h"
#include "pipeline/tensor/status_macros.h"
#include "tools/reel/cli_args.h"
#include "tools/reel/cli_bench_ranks.h"
#include "tools/reel/cli_paths.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {

constexpr int kRepeats = 3;  // both sides report their fastest of this many runs
namespace fs = std::filesystem;

constexpr char kUsage[] =
    "usage: reel bench [--model DIR] [--steps 4] [--latent-frames 8] [--latent-height 16]\n"
    "                  [--latent-width 16] [--threads 2] [--cfg 4.5] [--lengths 1,4,10]\n"
    "                  [--memory-steps 2] [--no-reference]\n"
    "       reel bench --ranks N [...]: sequence-parallel traffic and time (reel bench --ranks 2 "
    "--help)\n"
    "Without --model: models/reel-tiny's transformer if present, else random weights of its "
    "shape.\n"
    "Speed is measured on block-autoregressive generation (the render path) in both engines.\n";

struct Options {
  std::string model_dir;
  int steps = 4, threads = 2, memory_steps = 2;
  int64_t frames = 8, height = 16, width = 16;
  double cfg = 4.5;
  std::vector<int> lengths = {1, 4, 10};
  bool reference = true;
  int64_t child_blocks = 0;  // > 0: this process is a memory-measurement child
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int64_t PeakRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      int64_t kb = 0;
      absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kb);
      return kb;
    }
  }
  return 0;
}

// A random-weight model directory the PyTorch reference can load too.
absl::StatusOr<std::string> WriteRandomModel() {
  // reel-tiny's transformer shape (models/reel-tiny/config.json; tools/train/train_dit.py
  // --hidden-size 256 --layers 8).
  const nlohmann::json dit = {
      {"in_channels", 8},   {"out_channels", 8},    {"patch_size", {1, 2, 2}},
      {"hidden_size", 256}, {"num_layers", 8},      {"num_heads", 8},
      {"head_dim", 32},     {"cross_num_heads", 8}, {"cross_head_dim", 32},
      {"caption_dim", 128}, {"ffn_hidden", 640},    {"temporal_conv", "causal"},
      {"block_frames", 1}};
  const std::string dir =
      (fs::temp_directory_path() / absl::StrCat("reel_bench_model_", getpid())).string();
  fs::create_directories(dir);
  REEL_ASSIGN_OR_RETURN(DitConfig config, ParseDitConfig(dit));
  WeightStore w = WeightStore::RandomForTesting(7);
  REEL_RETURN_IF_ERROR(Dit::Load(config, w).status());
  REEL_RETURN_IF_ERROR(WriteSafetensors(dir + "/transformer.safetensors", w.invented()));
  std::ofstream(dir + "/config.json") << nlohmann::json{
      {"name", "bench-random"},
      {"transformer", dit},
      {"sampler",
       {{"flow_shift", 3.0},
        {"steps", 4},
        {"cfg_scale", 4.5},
        {"solver", "euler"}}}}.dump(2);
  return dir;
}

struct Loaded {
  ModelConfig config;
  Dit dit;
  PreparedCaption cond, uncond;
};

absl::StatusOr<Loaded> Load(const std::string& dir) {
  Loaded l;
  REEL_ASSIGN_OR_RETURN(l.config, LoadModelConfig(dir));
  REEL_ASSIGN_OR_RETURN(WeightStore w, WeightStore::Open(dir + "/transformer.safetensors"));
  REEL_ASSIGN_OR_RETURN(l.dit, Dit::Load(l.config.transformer, w));
  std::mt19937 gen(1);
  std::normal_distribution<float> n;
  std::vector<float> cap(16 * l.config.transformer.caption_dim), neg(cap.size());
  for (float& x : cap) x = n(gen);
  for (float& x : neg) x = n(gen);
  REEL_ASSIGN_OR_RETURN(Tensor mask, Tensor::FromVector({16}, std::vector<float>(16, 1.0f)));
  REEL_ASSIGN_OR_RETURN(Tensor c, Tensor::FromVector({16, l.config.transformer.caption_dim}, cap));
  REEL_ASSIGN_OR_RETURN(Tensor u, Tensor::FromVector({16, l.config.transformer.caption_dim}, neg));
  REEL_ASSIGN_OR_RETURN(l.cond, l.dit.PrepareCaption(c, mask));
  REEL_ASSIGN_OR_RETURN(l.uncond, l.dit.PrepareCaption(u, mask));
  return l;
}

// Child: generate `blocks` blocks, discard them, report time per block and peak RSS.
int RunMemoryChild(const Options& o) {
  absl::StatusOr<Loaded> l = Load(o.model_dir);
  if (!l.ok()) {
    std::fprintf(stderr, "reel bench: %s\n", std::string(l.status().message()).c_str());
    return 1;
  }
  BlockGenerationParams p;
  p.sampling = {o.memory_steps, o.cfg, "euler", l->config.sampler.flow_shift};
  p.block_frames = l->config.transformer.block_frames;
  p.latent_frames = o.child_blocks * p.block_frames * l->config.transformer.patch_size[0];
  p.latent_height = o.height;
  p.latent_width = o.width;
  const auto start = std::chrono::steady_clock::now();
  const absl::Status s = GenerateBlocks(l->dit, l->cond, &l->uncond, p, nullptr,
                                        [](int64_t, const Tensor&) { return absl::OkStatus(); });
  if (!s.ok()) {
    std::fprintf(stderr, "reel bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("blocks=%lld seconds_per_block=%.4f peak_rss_kb=%lld\n",
              static_cast<long long>(o.child_blocks), Seconds(start) / o.child_blocks,
              static_cast<long long>(PeakRssKb()));
  return 0;
}

std::string Run(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return out;
}

double FindValue(const std::string& text, const std::string& key) {
  const size_t at = text.find(key + "=");
  if (at == std::string::npos) return -1;
  double v = -1;
  const std::string rest = text.substr(at + key.size() + 1);
  absl::SimpleAtod(rest.substr(0, rest.find_first_of(" \n")), &v);
  return v;
}

int RunBench(const std::vector<std::string_view>& argv) {
  for (std::string_view a : argv) {
    if (a == "--ranks" || a.rfind("--ranks=", 0) == 0) return RunBenchRanks(argv);
  }
  absl::StatusOr<Args> args = Args::Parse(argv, {"no-reference", "help"});
  Options o;
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "reel bench: %s\n%s", std::string(s.message()).c_str(), kUsage);
    return 2;
  };
  if (!args.ok()) return fail(args.status());
  if (args->Flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  o.model_dir = args->String("model", "");
  for (auto [name, field] : {std::pair{"steps", &o.steps}, std::pair{"threads", &o.threads},
                             std::pair{"memory-steps", &o.memory_steps}}) {
    absl::StatusOr<int64_t> v = args->Int(name, *field);
    if (!v.ok()) return fail(v.status());
    *field = static_cast<int>(*v);
  }
  for (auto [name, field] :
       {std::pair{"latent-frames", &o.frames}, std::pair{"latent-height", &o.height},
        std::pair{"latent-width", &o.width}, std::pair{"memory-child", &o.child_blocks}}) {
    absl::StatusOr<int64_t> v = args->Int(name, *field);
    if (!v.ok()) return fail(v.status());
    *field = *v;
  }
  absl::StatusOr<double> cfg = args->Double("cfg", o.cfg);
  if (!cfg.ok()) return fail(cfg.status());
  o.cfg = *cfg;
  o.lengths.clear();
  for (absl::string_view part : absl::StrSplit(args->String("lengths", "1,4,10"), ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0)
      return fail(absl::InvalidArgumentError("--lengths: e.g. 1,4,10"));
    o.lengths.push_back(v);
  }
  o.reference = !args->Flag("no-reference");
  if (absl::Status s = args->CheckAllUsed(); !s.ok()) return fail(s);
  omp_set_num_threads(o.threads);
  if (o.child_blocks > 0) return RunMemoryChild(o);

  const std::string root = RepoRoot();
  if (o.model_dir.empty() && fs::exists(root + "/models/reel-tiny/transformer.safetensors")) {
    o.model_dir = root + "/models/reel-tiny";
  }
  std::string temp_model;
  if (o.model_dir.empty()) {
    absl::StatusOr<std::string> dir = WriteRandomModel();
    if (!dir.ok()) return fail(dir.status());
    o.model_dir = temp_model = *dir;
  }
  absl::StatusOr<Loaded> l = Load(o.model_dir);
  if (!l.ok()) return fail(l.status());
  const DitConfig& c = l->config.transformer;
  std::printf(
      "model %s: D=%d layers=%d heads=%dx%d, latents %dx%lldx%lldx%lld, %d steps, cfg %.1f, %d "
      "threads\n",
      o.model_dir.c_str(), c.hidden_size, c.num_layers, c.num_heads, c.head_dim, c.in_channels,
      static_cast<long long>(o.frames), static_cast<long long>(o.height),
      static_cast<long long>(o.width), o.steps, o.cfg, o.threads);

  // Speed: the same block-autoregressive generation (CFG, state passes) in C++ and in PyTorch
  // eager.
  BlockGenerationParams gp;
  gp.sampling = {o.steps, o.cfg, "euler", l->config.sampler.flow_shift};
  gp.block_frames = c.block_frames;
  gp.latent_frames = o.frames;
  gp.latent_height = o.height;
  gp.latent_width = o.width;
  auto discard = [](int64_t, const Tensor&) { return absl::OkStatus(); };
  gp.latent_frames = static_cast<int64_t>(c.block_frames) * c.patch_size[0];  // warm-up: one block
  if (absl::Status s = GenerateBlocks(l->dit, l->cond, &l->uncond, gp, nullptr, discard); !s.ok()) {
    return fail(s);
  }
  gp.latent_frames = o.frames;
  double cpp = std::numeric_limits<double>::infinity();
  for (int r = 0; r < kRepeats; ++r) {  // the best of a few runs: shared machines are noisy
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = GenerateBlocks(l->dit, l->cond, &l->uncond, gp, nullptr, discard);
        !s.ok()) {
      return fail(s);
    }
    cpp = std::min(cpp, Seconds(start) / o.steps);
  }
  std::printf("\nspeed (block-autoregressive generation, per denoising step of the whole video)\n");
  std::printf("  reel C++          %8.4f s/step\n", cpp);
  if (o.reference) {
    // PyTorch runs with its fastest OpenMP setting on this machine (passive waiting, no spin:
    // 0.15 s/step here, against 0.63 with libgomp's default and 0.28 with OMP_WAIT_POLICY=ACTIVE).
    const std::string cmd =
        absl::StrCat("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 ", root,
                     "/tools/reference/bench_reference.py --model ", o.model_dir, " --steps ",
                     o.steps, " --frames ", o.frames, " --height ", o.height, " --width ", o.width,
                     " --threads ", o.threads, " --cfg ", o.cfg,
                     " --solver euler --caption-len 16 --mode ar", " --repeat ", kRepeats, " 2>&1");
    const double ref = FindValue(Run(cmd), "reference_seconds_per_step");
    if (ref > 0) {
      std::printf(
          "  PyTorch reference %8.4f s/step\n  ratio             %8.2fx faster than PyTorch "
          "eager\n",
          ref, ref / cpp);
    } else {
      std::printf("  PyTorch reference: not available (%s)\n", cmd.c_str());
    }
  }

  // Memory: block-autoregressive generation at several lengths, each in a fresh process.
  const int64_t base_blocks = std::max<int64_t>(1, o.frames / (c.block_frames * c.patch_size[0]));
  std::printf(
      "\nblock-autoregressive length scaling (%d steps per block, each length in a new process)\n",
      o.memory_steps);
  std::printf("  %-7s %7s %16s %14s %10s\n", "length", "blocks", "seconds/block", "peak RSS MiB",
              "vs 1x");
  double base_rss = 0;
  for (int len : o.lengths) {
    const std::string cmd = absl::StrCat(
        "/proc/", getpid(), "/exe bench --model ", o.model_dir, " --memory-child ",
        base_blocks * len, " --memory-steps ", o.memory_steps, " --latent-height ", o.height,
        " --latent-width ", o.width, " --threads ", o.threads, " --cfg ", o.cfg, " 2>&1");
    const std::string text = Run(cmd);
    const double rss = FindValue(text, "peak_rss_kb") / 1024.0,
                 spb = FindValue(text, "seconds_per_block");
    if (rss <= 0) {
      std::printf("  %dx: failed: %s\n", len, text.c_str());
      continue;
    }
    if (base_rss == 0) base_rss = rss;
    std::printf("  %-7s %7lld %16.4f %14.1f %9.3fx\n", absl::StrCat(len, "x").c_str(),
                static_cast<long long>(base_blocks * len), spb, rss, rss / base_rss);
  }
  if (!temp_model.empty()) fs::remove_all(temp_model);
  return 0;
}

}  // namespace
REEL_COMMAND("bench", "C++ vs PyTorch speed ratio, and time/memory at 1x/4x/10x video length",
             RunBench);
}  // namespace reel::cli
