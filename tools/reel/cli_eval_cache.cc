#include "tools/reel/cli_eval_cache.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "opencv2/core.hpp"
#include "tools/eval/analyze.h"
#include "tools/eval/frame_collector.h"
#include "tools/eval/metrics.h"
#include "tools/eval/prompt.h"
#include "tools/eval/score.h"

namespace reel::cli {
namespace {

// "POLICY@VALUE": the value is the threshold of fbcache / cg-taylor and the interval of taylorseer.
absl::StatusOr<std::vector<CacheRequest>> ParseSettings(const CacheComparisonOptions& o) {
  if (o.sweep.empty()) return std::vector<CacheRequest>{o.common};
  std::vector<CacheRequest> out;
  for (absl::string_view item : absl::StrSplit(o.sweep, ',', absl::SkipWhitespace())) {
    const std::vector<absl::string_view> parts = absl::StrSplit(item, '@');
    CacheRequest r = o.common;
    r.policy = std::string(parts[0]);
    double v = 0;
    if (parts.size() > 2 || (parts.size() == 2 && !absl::SimpleAtod(parts[1], &v))) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cache-sweep: '", item, "': expected POLICY or POLICY@NUMBER"));
    }
    if (parts.size() == 2 && r.policy == "taylorseer") {
      if (v != std::floor(v) || v < 1 || v > 1e6) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--cache-sweep: '", item, "': taylorseer's value is an interval (1, 2, ...)"));
      }
      r.interval = static_cast<int>(v);
    } else if (parts.size() == 2) {
      r.threshold = v;
    }
    out.push_back(r);
  }
  return out;
}

struct Rendered {
  std::vector<cv::Mat> frames;
  double seconds = 0;
  RenderProgress last;
  eval::PromptScore score;
};

absl::StatusOr<Rendered> RenderOne(Renderer& renderer, const RenderRequest& request) {
  eval::FrameCollector sink;
  Rendered out;
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = renderer.Render(
      request, sink, [&](const RenderProgress& p) { out.last = p; }, nullptr);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!s.ok()) return s;
  out.frames = sink.frames();
  absl::StatusOr<eval::VideoAnalysis> analysis = eval::AnalyzeVideo(out.frames);
  if (!analysis.ok()) return analysis.status();
  out.score = eval::ScorePrompt(eval::ParsePrompt(request.prompt), *analysis);
  return out;
}

// What one setting (or the uncached baseline) added up to over the suite.
struct Totals {
  std::string label;
  double seconds = 0;
  int64_t computed = 0, skipped = 0;
  int checks_ok = 0, checks = 0;
  std::vector<cv::Mat> frames;  // every prompt's frames, in order
  double worst_psnr = std::numeric_limits<double>::infinity();

  void Add(const Rendered& r) {
    seconds += r.seconds;
    computed += r.last.block_forwards_computed;
    skipped += r.last.block_forwards_skipped;
    for (const eval::AttributeCheck& c : r.score.checks) {
      checks_ok += c.ok ? 1 : 0;
      ++checks;
    }
    frames.insert(frames.end(), r.frames.begin(), r.frames.end());
  }
  double Accuracy() const { return checks == 0 ? 0.0 : 100.0 * checks_ok / checks; }
};

std::string Db(double v) { return std::isinf(v) ? "identical" : absl::StrFormat("%.1f", v); }

}  // namespace

int RunCacheComparison(Renderer& renderer, const CacheComparisonOptions& o) {
  absl::StatusOr<std::vector<CacheRequest>> settings = ParseSettings(o);
  if (!settings.ok()) {
    std::fprintf(stderr, "reel eval: %s\n", std::string(settings.status().message()).c_str());
    return 2;
  }
  RenderRequest base;
  base.prompt = "x";
  base.steps = o.steps;
  base.cfg_scale = o.cfg;
  base.sampler = o.sampler;
  base.cache.policy = "none";
  // Resolve every setting up front: a bad value fails before an hour of rendering.
  std::vector<Totals> totals(settings->size());
  std::vector<RenderRequest> requests;
  for (size_t k = 0; k < settings->size(); ++k) {
    RenderRequest r = base;
    r.cache = (*settings)[k];
    absl::StatusOr<RenderRequest> resolved = renderer.Resolve(r);
    if (!resolved.ok()) {
      std::fprintf(stderr, "reel eval: %s\n", std::string(resolved.status().message()).c_str());
      return 2;
    }
    requests.push_back(*resolved);
    totals[k].label =
        DescribeCacheOptions(*ResolveCacheOptions(renderer.info().default_cache, resolved->cache));
  }
  const absl::StatusOr<RenderRequest> resolved_base = renderer.Resolve(base);
  if (!resolved_base.ok()) {
    std::fprintf(stderr, "reel eval: %s\n", std::string(resolved_base.status().message()).c_str());
    return 2;
  }
  Totals plain;
  for (size_t i = 0; i < o.prompts.size(); ++i) {
    RenderRequest r = *resolved_base;
    r.prompt = o.prompts[i].text;
    r.seed = 1000 + i;  // as `reel eval --suite`
    absl::StatusOr<Rendered> reference = RenderOne(renderer, r);
    if (!reference.ok()) {
      std::fprintf(stderr, "reel eval: %s\n", std::string(reference.status().message()).c_str());
      return 1;
    }
    plain.Add(*reference);
    for (size_t k = 0; k < requests.size(); ++k) {
      RenderRequest c = requests[k];
      c.prompt = r.prompt;
      c.seed = r.seed;
      absl::StatusOr<Rendered> cached = RenderOne(renderer, c);
      if (!cached.ok()) {
        std::fprintf(stderr, "reel eval: %s\n", std::string(cached.status().message()).c_str());
        return 1;
      }
      const absl::StatusOr<double> psnr = eval::Psnr(reference->frames, cached->frames);
      if (psnr.ok()) totals[k].worst_psnr = std::min(totals[k].worst_psnr, *psnr);
      totals[k].Add(*cached);
      if (o.verbose) {
        std::printf(
            "  %-40s %5.1f%% skipped  %.2fs vs %.2fs  PSNR %s  %s\n", totals[k].label.c_str(),
            100.0 * cached->last.block_forwards_skipped /
                std::max<int64_t>(
                    1, cached->last.block_forwards_computed + cached->last.block_forwards_skipped),
            cached->seconds, reference->seconds, Db(psnr.value_or(0)).c_str(), r.prompt.c_str());
        std::fflush(stdout);
      }
    }
  }
  std::printf(
      "reel eval --suite --cache: %zu prompts, %d steps %s, cfg %g, seeds 1000+; no cache: "
      "accuracy %.1f%%, %.1f s\n\n",
      o.prompts.size(), resolved_base->steps, resolved_base->sampler.c_str(),
      resolved_base->cfg_scale, plain.Accuracy(), plain.seconds);
  std::printf(
      "| cache | block-forwards skipped | fewer block-forwards | wall-time speedup | PSNR dB "
      "(worst prompt) | SSIM | accuracy (no cache %.1f%%) |\n|---|---|---|---|---|---|---|\n",
      plain.Accuracy());
  for (const Totals& t : totals) {
    const int64_t all = t.computed + t.skipped;
    const absl::StatusOr<double> psnr = eval::Psnr(plain.frames, t.frames);
    const absl::StatusOr<double> ssim = eval::Ssim(plain.frames, t.frames);
    std::printf("| %s | %.1f%% | %.2fx | %.2fx | %s (%s) | %.4f | %.1f%% (%+.1f) |\n",
                t.label.c_str(), all > 0 ? 100.0 * t.skipped / all : 0.0,
                t.computed > 0 ? static_cast<double>(all) / t.computed : 0.0,
                t.seconds > 0 ? plain.seconds / t.seconds : 0.0, Db(psnr.value_or(0)).c_str(),
                Db(t.worst_psnr).c_str(), ssim.value_or(0), t.Accuracy(),
                t.Accuracy() - plain.Accuracy());
  }
  return 0;
}

}  // namespace reel::cli
