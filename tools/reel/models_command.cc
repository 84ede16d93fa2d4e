// `reel models`: the model directories this binary can find (models/*/config.json), with their size
// and the defaults and limits `reel render` applies.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "pipeline/generate/renderer.h"
#include "tools/reel/cli_args.h"
#include "tools/reel/cli_models.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {
namespace fs = std::filesystem;

constexpr char kUsage[] =
    R"(usage: reel models [--dir DIR] [MODEL_DIR...]
Lists model directories (DIR/*/ holding config.json, or model_index.json for a diffusers
SANA-Video checkpoint; default: models/ of this checkout and ./models) with their parameter size,
default video, the steps sizes and lengths must follow, and how the model samples (bidirectional
or block-autoregressive). MODEL_DIR arguments describe those directories only. The model marked *
is the one `reel render` uses without --model ($REEL_MODEL or models/reel-tiny).
)";

bool IsModelDir(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p / "config.json", ec) || fs::exists(p / "model_index.json", ec);
}

std::string HumanBytes(int64_t bytes) {
  if (bytes < (1 << 20)) return absl::StrFormat("%.1f KB", bytes / 1024.0);
  if (bytes < (int64_t{1} << 30)) return absl::StrFormat("%.1f MB", bytes / 1048576.0);
  return absl::StrFormat("%.2f GB", bytes / 1073741824.0);
}

std::string Canonical(const fs::path& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.string() : c.string();
}

int RunModels(const std::vector<std::string_view>& argv) {
  for (std::string_view a : argv) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  auto args = Args::Parse(argv);
  if (!args.ok()) {
    std::fprintf(stderr, "reel models: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  const std::string dir = args->String("dir", "");
  if (absl::Status s = args->CheckAllUsed(); !s.ok()) {
    std::fprintf(stderr, "reel models: %s (see reel models --help)\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  std::vector<std::string> named;
  for (const auto& p : args->positional()) {
    const std::string d(p);
    if (!IsModelDir(d)) {
      std::fprintf(stderr,
                   "reel models: '%s' is not a model directory (no config.json or "
                   "model_index.json)\n",
                   d.c_str());
      return 2;
    }
    named.push_back(Canonical(d));
  }
  std::error_code ec;
  std::vector<std::string> roots;
  if (!dir.empty()) {
    if (!fs::is_directory(dir, ec)) {
      std::fprintf(stderr, "reel models: --dir '%s' is not a directory\n", dir.c_str());
      return 2;
    }
    roots.push_back(dir);
  } else if (named.empty()) {
    roots = ModelSearchRoots();
  }

  // A directory named directly by REEL_MODEL counts too, wherever it is.
  std::vector<std::string> model_dirs = named;
  for (const std::string& root : roots) {
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (IsModelDir(entry.path())) model_dirs.push_back(Canonical(entry.path()));
    }
  }
  const std::string default_dir = Canonical(DefaultModelDir());
  if (dir.empty() && named.empty() && IsModelDir(default_dir) &&
      std::find(model_dirs.begin(), model_dirs.end(), default_dir) == model_dirs.end()) {
    model_dirs.push_back(default_dir);
  }
  std::sort(model_dirs.begin(), model_dirs.end());
  if (model_dirs.empty()) {
    std::printf(
        "no models found in %s; tools/train trains reel-tiny (its commands are in "
        "models/reel-tiny/README.md), or pass --dir\n",
        roots.empty() ? "models/ (none here)" : absl::StrJoin(roots, ", ").c_str());
    return 0;
  }

  std::printf("  %-16s %10s  %-26s %10s  %-9s %-11s %s\n", "NAME", "WEIGHTS", "DEFAULT VIDEO",
              "MAX FRAMES", "SIZE STEP", "FRAMES STEP", "DIRECTORY");
  int failed = 0;
  for (const std::string& model_dir : model_dirs) {
    const char* mark = model_dir == default_dir ? "*" : " ";
    RendererOptions options;
    options.threads = 1;
    auto renderer = LoadRenderer(model_dir, options);
    if (!renderer.ok()) {
      ++failed;
      std::printf("%s %-16s cannot load: %s\n", mark, fs::path(model_dir).filename().c_str(),
                  std::string(renderer.status().message()).c_str());
      continue;
    }
    const ModelInfo& m = (*renderer)->info();
    const std::string video = absl::StrFormat("%dx%d, %d frames @ %g fps", m.default_width,
                                              m.default_height, m.default_frames, m.default_fps);
    std::printf("%s %-16s %10s  %-26s %10d  %-9d %-11d %s\n", mark, m.name.c_str(),
                HumanBytes(m.parameter_bytes).c_str(), video.c_str(), m.max_frames,
                m.spatial_factor, m.temporal_factor, model_dir.c_str());
    std::printf("  %-16s attention: %s\n", "", m.attention_description.c_str());
    std::printf("  %-16s feature cache: %s\n", "", DescribeCacheOptions(m.default_cache).c_str());
    std::printf("  %-16s sampling: %s\n", "", m.sampling.c_str());
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace
REEL_COMMAND("models", "list the installed models with their defaults and limits", RunModels);
}  // namespace reel::cli
