#include "tools/reel/cli_eval_suite.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "opencv2/core.hpp"
#include "pipeline/generate/renderer.h"
#include "tools/eval/analyze.h"
#include "tools/eval/frame_collector.h"
#include "tools/eval/prompt.h"
#include "tools/eval/score.h"
#include "tools/eval/video_io.h"
#include "tools/reel/cli_args.h"
#include "tools/reel/cli_attention_flags.h"
#include "tools/reel/cli_cache_flags.h"
#include "tools/reel/cli_eval_cache.h"
#include "tools/reel/cli_models.h"

namespace reel::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    "usage: reel eval --suite [--model DIR] [--steps N] [--cfg S] [--sampler euler|dpm++2m]\n"
    "                         [--long K] [--limit N] [--save DIR] [--verbose]\n"
    "                         [--attention-window W] [--sla-topk K]\n"
    "                         [--device cpu|cuda|cuda:N|auto] [--precision f32|bf16]\n"
    "Renders the fixed prompt suite (seen and held-out color/shape/motion combinations) and "
    "prints\n"
    "attribute accuracy; --long K also renders each held-out and seen prompt at K x the default\n"
    "length and checks that color and shape stay the same over the whole clip. --save DIR keeps\n"
    "every render as a folder of PNG frames (DIR/NN, DIR/NN_long) and lists the prompts in\n"
    "DIR/prompts.tsv; `reel eval --video DIR/NN --prompt TEXT` scores one again.\n"
    "\n"
    "Feature caching: with --cache POLICY (and the --cache-* flags of `reel render`), or with\n"
    "--cache-sweep POLICY@VALUE,... (VALUE: the threshold of fbcache / cg-taylor, the interval of\n"
    "taylorseer), every prompt is also rendered without a cache, same seed, and a table compares\n"
    "block-forwards skipped, wall-time speedup, PSNR/SSIM against no cache and accuracy.\n";

// The canonical caption grammar of tools/train/reel_train/data.py (first synonym of every word).
std::string Caption(const std::string& color, const std::string& shape, const std::string& motion,
                    const std::string& background) {
  static const std::map<std::string, std::string> kMotionPhrase = {
      {"right", "moving right"}, {"left", "moving left"},     {"up", "moving up"},
      {"down", "moving down"},   {"still", "standing still"}, {"diagonal", "bouncing diagonally"},
      {"growing", "growing"},    {"shrinking", "shrinking"}};
  const std::string article = color[0] == 'o' ? "an" : "a";
  return absl::StrCat(article, " ", color, " ", shape, " ", kMotionPhrase.at(motion), " on a ",
                      background, " background");
}

}  // namespace

std::vector<SuitePrompt> Suite() {
  const std::vector<std::string> colors = {"red",    "green",  "blue", "yellow",
                                           "orange", "purple", "cyan"};
  const std::vector<std::string> shapes = {"circle", "square", "triangle", "star", "diamond"};
  const std::vector<std::string> motions = {"right", "left",     "up",      "down",
                                            "still", "diagonal", "growing", "shrinking"};
  const std::vector<std::string> backgrounds = {"black", "white", "gray"};
  const std::vector<std::array<std::string, 3>> held = {
      {"green", "triangle", "up"},      {"blue", "star", "left"},
      {"yellow", "square", "down"},     {"purple", "circle", "right"},
      {"orange", "diamond", "growing"}, {"cyan", "triangle", "still"}};
  auto is_held = [&](const std::string& c, const std::string& s, const std::string& m) {
    for (const auto& h : held) {
      if (h[0] == c && h[1] == s && h[2] == m) return true;
    }
    return false;
  };
  std::vector<SuitePrompt> out;
  for (size_t i = 0; out.size() < 24; ++i) {
    const std::string& c = colors[i % colors.size()];
    const std::string& s = shapes[(i * 3) % shapes.size()];
    const std::string& m = motions[(i * 5) % motions.size()];
    if (is_held(c, s, m)) continue;
    out.push_back({Caption(c, s, m, backgrounds[i % backgrounds.size()]), false});
  }
  for (size_t i = 0; i < held.size(); ++i) {
    for (int b = 0; b < 2; ++b) {
      out.push_back({Caption(held[i][0], held[i][1], held[i][2], backgrounds[(i + b) % 3]), true});
    }
  }
  return out;
}

namespace {

struct Tally {
  int ok = 0, total = 0;
  void Add(bool good) {
    ok += good ? 1 : 0;
    ++total;
  }
  double Rate() const { return total == 0 ? 0.0 : static_cast<double>(ok) / total; }
  std::string Text() const { return absl::StrFormat("%5.1f%% (%d/%d)", 100 * Rate(), ok, total); }
};

}  // namespace

int RunEvalSuite(const std::vector<std::string_view>& argv) {
  absl::StatusOr<Args> args = Args::Parse(argv, {"suite", "verbose", "help"});
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "reel eval: %s\n%s", std::string(s.message()).c_str(), kUsage);
    return 2;
  };
  if (!args.ok()) return fail(args.status());
  if (args->Flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  args->Flag("suite");
  const std::string model = args->String("model", DefaultModelDir());
  absl::StatusOr<int64_t> steps = args->Int("steps", 0), long_factor = args->Int("long", 0),
                          limit = args->Int("limit", 0);
  absl::StatusOr<double> cfg = args->Double("cfg", -1);
  if (!cfg.ok()) return fail(cfg.status());
  const std::string sampler = args->String("sampler", "");
  const bool verbose = args->Flag("verbose");
  const std::string save_dir = args->String("save", "");
  for (const auto* v : {&steps, &long_factor, &limit}) {
    if (!v->ok()) return fail(v->status());
  }
  const bool compare_cache = args->Has("cache") || args->Has("cache-sweep");
  absl::StatusOr<CacheRequest> cache = ParseCacheFlags(*args);
  if (!cache.ok()) return fail(cache.status());
  const std::string sweep = args->String("cache-sweep", "");
  absl::StatusOr<AttentionOverrides> attention = ParseAttentionFlags(*args);
  if (!attention.ok()) return fail(attention.status());
  const absl::StatusOr<PlacementChoice> placement =
      ResolvePlacement(args->String("device", "auto"), args->String("precision", ""));
  if (absl::Status s = args->CheckAllUsed(); !s.ok()) return fail(s);
  if (!placement.ok()) return fail(placement.status());
  if (compare_cache && (*long_factor > 0 || !save_dir.empty())) {
    return fail(absl::InvalidArgumentError("--cache/--cache-sweep do not take --long or --save"));
  }
  RendererOptions renderer_options;
  renderer_options.placement = placement->placement;
  absl::StatusOr<std::unique_ptr<Renderer>> renderer = LoadRenderer(model, renderer_options);
  if (!renderer.ok()) return fail(renderer.status());
  std::printf("%s: %s\n", placement->line.c_str(), (*renderer)->info().placement.c_str());

  std::vector<SuitePrompt> prompts = Suite();
  if (*limit > 0 && static_cast<size_t>(*limit) < prompts.size()) prompts.resize(*limit);
  if (compare_cache) {
    return RunCacheComparison(**renderer, {.prompts = prompts,
                                           .steps = static_cast<int>(*steps),
                                           .cfg = *cfg,
                                           .sampler = sampler,
                                           .common = *cache,
                                           .sweep = sweep,
                                           .verbose = verbose});
  }
  std::ofstream saved_prompts;
  if (!save_dir.empty()) {
    std::error_code ec;
    fs::create_directories(save_dir, ec);
    saved_prompts.open(fs::path(save_dir) / "prompts.tsv");
    if (ec || !saved_prompts)
      return fail(absl::PermissionDeniedError("--save: cannot write to " + save_dir));
  }
  std::map<std::string, Tally> by_attribute;
  Tally seen, held, overall, long_consistent;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (int pass = 0; pass < (*long_factor > 0 ? 2 : 1); ++pass) {
      RenderRequest request;
      request.prompt = prompts[i].text;
      request.steps = static_cast<int>(*steps);
      request.cfg_scale = *cfg;
      request.sampler = sampler;
      request.seed = 1000 + i;
      request.attention = *attention;
      if (pass == 1)
        request.frames = static_cast<int>((*renderer)->info().default_frames * *long_factor);
      eval::FrameCollector sink;
      if (absl::Status s = (*renderer)->Render(request, sink, nullptr, nullptr); !s.ok())
        return fail(s);
      if (!save_dir.empty()) {
        const std::string name = absl::StrFormat("%02d%s", i, pass == 1 ? "_long" : "");
        if (absl::Status s =
                eval::WritePngFrames(sink.frames(), (fs::path(save_dir) / name).string());
            !s.ok())
          return fail(s);
        saved_prompts << name << '\t' << prompts[i].text << '\n' << std::flush;
      }
      absl::StatusOr<eval::VideoAnalysis> analysis = eval::AnalyzeVideo(sink.frames());
      if (!analysis.ok()) return fail(analysis.status());
      const eval::PromptScore score =
          eval::ScorePrompt(eval::ParsePrompt(prompts[i].text), *analysis);
      if (pass == 1) {
        const bool consistent = score.keeps_color_and_shape;
        long_consistent.Add(consistent);
        if (verbose) {
          std::printf("  long x%lld  %-3s consistency %.2f  %s\n",
                      static_cast<long long>(*long_factor), consistent ? "ok" : "NO",
                      score.temporal_consistency, prompts[i].text.c_str());
        }
        continue;
      }
      int good = 0;
      for (const eval::AttributeCheck& c : score.checks) {
        const std::string kind = c.attribute.substr(c.attribute.find('.') + 1);
        by_attribute[kind].Add(c.ok);
        (prompts[i].held_out ? held : seen).Add(c.ok);
        overall.Add(c.ok);
        good += c.ok ? 1 : 0;
      }
      if (verbose) {
        std::printf("  %d/%zu %s %s\n", good, score.checks.size(),
                    prompts[i].held_out ? "held" : "seen", prompts[i].text.c_str());
        for (const eval::AttributeCheck& c : score.checks) {
          if (!c.ok) {
            std::printf("      %s: expected %s, found '%s'\n", c.attribute.c_str(),
                        c.expected.c_str(), c.found.c_str());
          }
        }
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const absl::StatusOr<RenderRequest> resolved = (*renderer)->Resolve({.prompt = "x"});
  if (!resolved.ok()) return fail(resolved.status());
  const RenderRequest& defaults = *resolved;
  std::printf("reel eval --suite: %zu prompts with %s (%d steps %s, cfg %g) in %.0f s\n",
              prompts.size(), model.c_str(), *steps > 0 ? static_cast<int>(*steps) : defaults.steps,
              sampler.empty() ? defaults.sampler.c_str() : sampler.c_str(),
              *cfg >= 0 ? *cfg : defaults.cfg_scale, seconds);
  for (const auto& [kind, tally] : by_attribute)
    std::printf("  %-12s %s\n", kind.c_str(), tally.Text().c_str());
  std::printf("  %-12s %s\n  %-12s %s\n  %-12s %s\n", "seen", seen.Text().c_str(), "held-out",
              held.Text().c_str(), "overall", overall.Text().c_str());
  if (*long_factor > 0) {
    std::printf("  long x%-5lld %s keep color and shape\n", static_cast<long long>(*long_factor),
                long_consistent.Text().c_str());
  }
  return 0;
}

}  // namespace reel::cli
