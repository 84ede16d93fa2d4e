#include "tools/reel/cli_bench_ranks.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/config.h"
#include "pipeline/parallel/band.h"
#include "tools/reel/cli_args.h"
#include "tools/reel/cli_models.h"

namespace reel::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    "usage: reel bench --ranks N [--model DIR] [--sizes 128x128,256x256] [--steps 4] [--frames 8]\n"
    "Renders each size twice, as `reel render --ranks N --threads 1` and as one process with N\n"
    "threads (same seed, no feature cache), and prints what rank 0 sent per layer and step "
    "against\n"
    "what an all-gather of K and V (softmax sequence parallelism) would send, the wall times and "
    "the\n"
    "share of the sharded render spent in communication.\n";

struct Size {
  int width = 0, height = 0;
};

// One `reel render` child process; its --stats_json.
absl::StatusOr<nlohmann::json> RenderOnce(const std::string& model, const Size& size, int ranks,
                                          int threads, int steps, int frames, const fs::path& dir) {
  const std::string stats = (dir / absl::StrCat("stats-", ranks, ".json")).string();
  // The shell runs the command, so /proc/self/exe must be resolved here, in this process.
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  const std::string cmd = absl::StrCat(
      "'", self, "' render 'a red circle moving right' --model '", model, "' --width ", size.width,
      " --height ", size.height, " --steps ", steps, " --frames ", frames,
      " --seed 1 --cache none --quiet --ranks ", ranks, " --threads ", threads, " -o '",
      (dir / "bench.mp4").string(), "' --stats_json '", stats, "' > /dev/null");
  if (const int rc = std::system(cmd.c_str()); rc != 0) {
    return absl::InternalError(absl::StrCat("`", cmd, "` failed (status ", rc, ")"));
  }
  std::ifstream in(stats);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InternalError(absl::StrCat("unreadable ", stats));
  return j;
}

absl::StatusOr<std::vector<Size>> ParseSizes(const std::string& text) {
  std::vector<Size> sizes;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const std::vector<std::string> wh = absl::StrSplit(part, 'x');
    Size s;
    if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &s.width) ||
        !absl::SimpleAtoi(wh[1], &s.height) || s.width <= 0 || s.height <= 0) {
      return absl::InvalidArgumentError("--sizes: e.g. 128x128,256x256");
    }
    sizes.push_back(s);
  }
  return sizes;
}

}  // namespace

int RunBenchRanks(const std::vector<std::string_view>& argv) {
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "reel bench: %s\n%s", std::string(s.message()).c_str(), kUsage);
    return 2;
  };
  absl::StatusOr<Args> args = Args::Parse(argv, {"help"});
  if (!args.ok()) return fail(args.status());
  if (args->Flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const absl::StatusOr<int64_t> ranks = args->Int("ranks", 2);
  const absl::StatusOr<int64_t> steps = args->Int("steps", 4);
  const absl::StatusOr<int64_t> frames = args->Int("frames", 8);
  for (const auto* v : {&ranks, &steps, &frames}) {
    if (!v->ok()) return fail(v->status());
  }
  if (*ranks < 2 || *steps < 1 || *frames < 1) {
    return fail(absl::InvalidArgumentError("--ranks must be at least 2, --steps and --frames ≥ 1"));
  }
  const absl::StatusOr<std::vector<Size>> sizes =
      ParseSizes(args->String("sizes", "128x128,256x256"));
  if (!sizes.ok()) return fail(sizes.status());
  std::string model = args->String("model", "");
  if (model.empty()) model = DefaultModelDir();
  if (absl::Status s = args->CheckAllUsed(); !s.ok()) return fail(s);
  const absl::StatusOr<ModelConfig> config = LoadModelConfig(model);
  if (!config.ok()) return fail(config.status());
  const DitConfig& c = config->transformer;
  const int world = static_cast<int>(*ranks);

  std::error_code ec;
  const fs::path dir = fs::temp_directory_path(ec) / absl::StrCat("reel-bench-ranks-", getpid());
  fs::create_directories(dir, ec);
  std::printf(
      "model %s (D %lld, %lld heads x %lld, %lld layers); %lld steps, %lld frames, seed 1, no "
      "cache; %d ranks x 1 thread vs 1 process x %d threads\n\n",
      config->name.c_str(), static_cast<long long>(c.hidden_size),
      static_cast<long long>(c.num_heads), static_cast<long long>(c.head_dim),
      static_cast<long long>(c.num_layers), static_cast<long long>(*steps),
      static_cast<long long>(*frames), world, world);
  std::printf(
      "| size | tokens/frame | attention all-reduce B/layer/step | conv halo B/layer/step | K/V "
      "all-gather B/layer/step (same shape) | ratio | %d ranks s | 1 process s | speedup | "
      "communication |\n|---|---|---|---|---|---|---|---|---|---|\n",
      world);
  int rc = 0;
  for (const Size& size : *sizes) {
    const absl::StatusOr<nlohmann::json> sharded =
        RenderOnce(model, size, world, 1, *steps, *frames, dir);
    const absl::StatusOr<nlohmann::json> single =
        RenderOnce(model, size, 1, world, *steps, *frames, dir);
    if (!sharded.ok() || !single.ok()) {
      std::fprintf(stderr, "reel bench: %s\n",
                   std::string((sharded.ok() ? single : sharded).status().message()).c_str());
      rc = 1;
      continue;
    }
    const nlohmann::json& s = *sharded;
    const int64_t forwards = std::max<int64_t>(1, s.value("block_forwards_computed", 1));
    const int64_t rows = s.value("token_rows", 0), cols = s.value("token_cols", 0);
    const nlohmann::json seq = s.value("sequence", nlohmann::json::object());
    const double all_reduce = seq.value("all_reduce_bytes", 0.0) / forwards;
    const double halo = seq.value("exchange_bytes", 0.0) / forwards;
    // An all-gather of K and V instead: rank 0 sends its band's K and V (2·D floats per token) to
    // the N−1 others, for both guidance branches (one forward carries both).
    const int branches = 2;
    const double kv = static_cast<double>(world - 1) * BandOf(rows, 0, world).rows() * cols *
                      c.block_frames * 2 * c.hidden_size * sizeof(float) * branches;
    const double sharded_s = s.value("render_seconds", 0.0);
    const double single_s = single->value("render_seconds", 0.0);
    std::printf("| %dx%d | %lld | %.0f | %.0f | %.0f | %.1fx | %.2f | %.2f | %.2fx | %.0f%% |\n",
                size.width, size.height, static_cast<long long>(rows * cols), all_reduce, halo, kv,
                kv / all_reduce, sharded_s, single_s, single_s / std::max(sharded_s, 1e-9),
                100.0 * seq.value("seconds", 0.0) / std::max(sharded_s, 1e-9));
    std::fflush(stdout);
  }
  fs::remove_all(dir, ec);
  return rc;
}

}  // namespace reel::cli
