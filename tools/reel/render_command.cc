// `reel render "PROMPT" -o out.mp4`: text to video (or to an image) in this process, no server:
// load the model, render block by block, encode each block as it finishes, report progress.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "pipeline/generate/renderer.h"
#include "pipeline/parallel/worker_groups.h"
#include "pipeline/tensor/device.h"
#include "services/encoder/contact_sheet.h"
#include "services/encoder/file_sink.h"
#include "services/encoder/media_format.h"
#include "tools/reel/cli_args.h"
#include "tools/reel/cli_attention_flags.h"
#include "tools/reel/cli_cache_flags.h"
#include "tools/reel/cli_group.h"
#include "tools/reel/cli_models.h"
#include "tools/reel/cli_progress.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {
namespace fs = std::filesystem;

constexpr char kUsageFormat[] =
    R"(usage: reel render "PROMPT" [-o FILE] [options]
Renders a video (or, with an image format, a single frame) in this process and writes it to FILE.
  -o, --output FILE    where to write; the extension picks the format
                       (.mp4 .webm .gif .webp .png .jpg); default render.mp4
  --format F           mp4 | webm | gif | webp | png | jpeg (when FILE's extension does not say)
  --frames N           frames: a multiple of the model's block size, or 1 for an image
  --seconds S          length in seconds instead of --frames (rounded up to whole blocks)
  --fps F              frames per second
  --width W, --height H  size in pixels (multiples of the model's size step)
  --steps N            denoising steps per block
  --cfg X              classifier-free guidance scale (1 = off)
  --seed N             random seed (default: a fresh one, printed so it can be repeated)
  --sampler NAME       euler | dpm++2m
  --negative TEXT      negative prompt
  --model DIR          model directory (default: $REEL_MODEL, else models/reel-tiny)
  --threads N          CPU threads (default: all cores; with --ranks, per rank: cores / N)
  --device D           cpu | cuda | cuda:N | auto (default: auto = CUDA when usable; a
                       sequence-parallel group (--ranks) runs on the CPU)
  --precision P        f32 | bf16 (default: bf16 on a GPU, f32 on the CPU)
  --ranks N            shard the render over N local processes (sequence parallel over Gloo);
                       the video is the same as with one
  --group_timeout S    with --ranks: seconds any rank waits for the others before giving up (30)
  --cfg_parallel       with --ranks 2·S: the two guidance branches on two halves of the ranks,
                       each half sequence parallel over S ranks
%s  --crf N, --preset P  encoder quality and speed (services/encoder/README.md)
  --preview FILE       also write a contact sheet, a grid of frames (.png .jpg .webp)
  --quiet              no progress display
  --stats_json FILE    also write the render's timings and (with --ranks) what rank 0 sent, as
                       JSON (what `reel bench --ranks` reads)
Unset values come from the model (`reel models` lists them).
One rank of a group started by hand (what --ranks runs for ranks 1..N-1; same arguments on every
rank): --rank R --ranks N --group_id ID --rendezvous ADDRESS (a directory every rank can reach,
or HOST:PORT where rank 0 listens).
)";

// Set from the SIGINT handler (lock-free atomics are async-signal-safe); read by the renderer.
std::atomic<bool> g_cancel{false};

struct Options {
  std::string prompt, negative, output, format, sampler, model_dir, preset, preview;
  std::optional<int64_t> frames, width, height, steps, threads, crf, seed, ranks, rank;
  std::optional<double> seconds, fps, cfg, group_timeout;
  std::string group_id, rendezvous;
  std::string stats_json;
  std::string device = "auto", precision;
  CacheRequest cache;
  AttentionOverrides attention;
  bool quiet = false;
  bool cfg_parallel = false;
};

// Exit codes: 2 for anything wrong with the command line, 1 for failures while running.
struct Failure {
  int code;
  std::string message;
};

template <typename T>
absl::Status Optional(absl::StatusOr<T> value, bool present, std::optional<T>& out) {
  if (!value.ok()) return value.status();
  if (present) out = *value;
  return absl::OkStatus();
}

absl::StatusOr<Options> ParseOptions(const std::vector<std::string_view>& argv) {
  auto parsed = Args::Parse(argv, {"quiet", "cfg_parallel"});
  if (!parsed.ok()) return parsed.status();
  Args& a = *parsed;
  Options o;
  o.output = a.String("o", a.String("output", ""));
  o.format = a.String("format", "");
  o.sampler = a.String("sampler", "");
  o.negative = a.String("negative", "");
  o.model_dir = a.String("model", "");
  o.preset = a.String("preset", "");
  o.preview = a.String("preview", "");
  o.stats_json = a.String("stats_json", "");
  o.device = a.String("device", "auto");
  o.precision = a.String("precision", "");
  o.group_id = a.String("group_id", "");
  o.rendezvous = a.String("rendezvous", "");
  o.quiet = a.Flag("quiet");
  o.cfg_parallel = a.Flag("cfg_parallel");
  for (auto [name, field] :
       {std::pair{"frames", &o.frames}, std::pair{"width", &o.width},
        std::pair{"height", &o.height}, std::pair{"steps", &o.steps},
        std::pair{"threads", &o.threads}, std::pair{"crf", &o.crf}, std::pair{"seed", &o.seed},
        std::pair{"ranks", &o.ranks}, std::pair{"rank", &o.rank}}) {
    if (absl::Status s = Optional(a.Int(name, 0), a.Has(name), *field); !s.ok()) return s;
  }
  for (auto [name, field] :
       {std::pair{"seconds", &o.seconds}, std::pair{"fps", &o.fps}, std::pair{"cfg", &o.cfg},
        std::pair{"group_timeout", &o.group_timeout}}) {
    if (absl::Status s = Optional(a.Double(name, 0), a.Has(name), *field); !s.ok()) return s;
  }
  absl::StatusOr<CacheRequest> cache = ParseCacheFlags(a);
  if (!cache.ok()) return cache.status();
  o.cache = *cache;
  absl::StatusOr<AttentionOverrides> attention = ParseAttentionFlags(a);
  if (!attention.ok()) return attention.status();
  o.attention = *attention;
  if (absl::Status s = a.CheckAllUsed(); !s.ok()) return s;
  if (a.positional().empty() || a.positional()[0].empty()) {
    return absl::InvalidArgumentError(
        "missing the prompt, e.g. reel render \"a red circle moving right\" -o out.mp4");
  }
  if (a.positional().size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", a.positional()[1], "' (put the prompt in quotes)"));
  }
  o.prompt = a.positional()[0];
  if (o.seed && *o.seed < 0) return absl::InvalidArgumentError("--seed must not be negative");
  if (o.threads && *o.threads < 0)
    return absl::InvalidArgumentError("--threads must not be negative");
  if (o.seconds && o.frames) {
    return absl::InvalidArgumentError("give --frames or --seconds, not both");
  }
  if (o.seconds && !(*o.seconds > 0))
    return absl::InvalidArgumentError("--seconds must be positive");
  if (o.ranks && (*o.ranks < 1 || *o.ranks > 64)) {
    return absl::InvalidArgumentError("--ranks must be 1..64");
  }
  if (o.group_timeout && !(*o.group_timeout > 0)) {
    return absl::InvalidArgumentError("--group_timeout must be positive");
  }
  if (o.rank.has_value() != !o.rendezvous.empty() || (o.rank && !o.ranks)) {
    return absl::InvalidArgumentError(
        "one rank of a group needs --rank, --ranks and --rendezvous together");
  }
  if (o.rank && o.group_id.empty()) o.group_id = "render";
  if (o.cfg_parallel && o.ranks.value_or(1) % 2 != 0) {
    return absl::InvalidArgumentError("--cfg_parallel needs an even --ranks (2 x sequence ranks)");
  }

  // The container: --format, else the extension of -o, else mp4.
  if (o.format == "jpg") o.format = "jpeg";
  std::optional<std::string> from_extension;
  if (!o.output.empty()) {
    if (auto f = MediaFormatForPath(o.output); f.ok()) from_extension = *f;
  }
  if (o.format.empty()) {
    if (!o.output.empty() && !from_extension) return MediaFormatForPath(o.output).status();
    o.format = from_extension.value_or("mp4");
  } else if (FindMediaFormat(o.format) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format '", o.format, "': expected mp4, webm, gif, webp, png or jpeg"));
  } else if (from_extension && *from_extension != o.format &&
             !(*from_extension == "webp" && o.format == "webp-image")) {
    return absl::InvalidArgumentError(absl::StrCat("--format ", o.format,
                                                   " does not match the extension of '", o.output,
                                                   "' (", *from_extension, ")"));
  }
  const bool image = FindMediaFormat(o.format)->single_image;
  if (image && o.frames && *o.frames != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format ", o.format, " holds one frame; got --frames ", *o.frames));
  }
  if (image && o.seconds) {
    return absl::InvalidArgumentError(absl::StrCat("--format ", o.format,
                                                   " is a single image; "
                                                   "--seconds needs a video format"));
  }
  if (image) o.frames = 1;
  if (o.format == "webp" && o.frames && *o.frames == 1) o.format = "webp-image";
  if (o.output.empty()) {
    o.output = absl::StrCat("render", FindMediaFormat(o.format)->extension);
  }
  const fs::path parent = fs::path(o.output).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write '", o.output, "': no directory '", parent.string(), "'"));
  }
  return o;
}

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (bytes < (1 << 20)) return absl::StrFormat("%.1f KB", bytes / 1024.0);
  if (bytes < (int64_t{1} << 30)) return absl::StrFormat("%.1f MB", bytes / 1048576.0);
  return absl::StrFormat("%.2f GB", bytes / 1073741824.0);
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Hands every block to the file sink and keeps thumbnails for the contact sheet.
class PreviewTee final : public FrameSink {
 public:
  PreviewTee(FrameSink& inner, ContactSheet* sheet) : inner_(inner), sheet_(sheet) {}
  absl::Status Open(const VideoSpec& spec) override { return inner_.Open(spec); }
  absl::Status Write(const FrameBlock& block) override {
    if (sheet_ != nullptr) sheet_->Add(block);
    return inner_.Write(block);
  }
  absl::StatusOr<SinkResult> Close() override { return inner_.Close(); }
  void Abort() override { inner_.Abort(); }

 private:
  FrameSink& inner_;
  ContactSheet* const sheet_;
};

// Restores the previous SIGINT handler when the render is over.
class CancelOnInterrupt {
 public:
  CancelOnInterrupt() {
    g_cancel = false;
    struct sigaction action = {};
    action.sa_handler = [](int) { g_cancel = true; };
    action.sa_flags = SA_RESETHAND;  // a second Ctrl-C stops the process at once
    sigaction(SIGINT, &action, &previous_);
  }
  ~CancelOnInterrupt() { sigaction(SIGINT, &previous_, nullptr); }

 private:
  struct sigaction previous_ = {};
};

// The group this process renders in (null: alone) and, under --ranks, the local ranks it started.
struct GroupRun {
  const GroupOptions* options = nullptr;
  LocalGroup* local = nullptr;
};

std::optional<Failure> Render(const Options& o, const GroupRun& group) {
  const auto start = std::chrono::steady_clock::now();
  const int world = group.options != nullptr ? group.options->world_size : 1;
  const int rank = group.options != nullptr ? group.options->rank : 0;
  const bool follower = rank != 0;
  const std::string model_dir = o.model_dir.empty() ? DefaultModelDir() : o.model_dir;
  std::error_code ec;
  if (!fs::exists(fs::path(model_dir) / "config.json", ec) &&
      !fs::exists(fs::path(model_dir) / "model_index.json", ec)) {
    return Failure{2, absl::StrCat("no model at '", model_dir,
                                   "' (no config.json or model_index.json); pass --model DIR or "
                                   "set REEL_MODEL "
                                   "(`reel models` lists the installed ones)")};
  }
  RendererOptions renderer_options;
  renderer_options.threads = static_cast<int>(o.threads.value_or(DefaultThreadsPerRank(world)));
  const absl::StatusOr<PlacementChoice> placement =
      ResolvePlacement(o.device, o.precision, world > 1 && !(o.cfg_parallel && world == 2));
  if (!placement.ok()) {
    const bool bad_args = placement.status().code() == absl::StatusCode::kInvalidArgument;
    return Failure{bad_args ? 2 : 1, std::string(placement.status().message())};
  }
  renderer_options.placement = placement->placement;
  std::optional<WorkerGroups> groups;
  if (group.options != nullptr) {
    absl::StatusOr<WorkerGroups> joined = WorkerGroups::Join(*group.options, o.cfg_parallel);
    if (!joined.ok()) {
      return Failure{1, absl::StrCat("rank ", rank, " of ", world,
                                     ": cannot join the group: ", joined.status().message())};
    }
    groups.emplace(std::move(*joined));
    renderer_options.parallel = groups->context();
  }
  auto renderer = LoadRenderer(model_dir, renderer_options);
  if (!renderer.ok()) {
    return Failure{1, absl::StrCat("cannot load the model in '", model_dir,
                                   "': ", renderer.status().message())};
  }
  const ModelInfo& info = (*renderer)->info();

  RenderRequest request;
  request.prompt = o.prompt;
  request.negative_prompt = o.negative;
  request.width = static_cast<int>(o.width.value_or(0));
  request.height = static_cast<int>(o.height.value_or(0));
  request.fps = o.fps.value_or(0);
  request.steps = static_cast<int>(o.steps.value_or(0));
  request.cfg_scale = o.cfg.value_or(-1);
  request.sampler = o.sampler;
  request.seed = o.seed ? static_cast<uint64_t>(*o.seed) : std::random_device{}() % 1000000000;
  request.frames = static_cast<int>(o.frames.value_or(0));
  request.cache = o.cache;
  request.attention = o.attention;
  if (o.seconds) {
    // Whole blocks: the generator makes temporal_factor frames at a time.
    const double fps = o.fps.value_or(info.default_fps);
    const int block = std::max(1, info.temporal_factor);
    const int64_t wanted = std::max<int64_t>(1, std::llround(*o.seconds * fps));
    request.frames = static_cast<int>(
        std::min<int64_t>((wanted + block - 1) / block * block, std::max(block, info.max_frames)));
  }
  const absl::StatusOr<RenderRequest> resolved = (*renderer)->Resolve(request);
  if (!resolved.ok()) {
    const bool bad_args = resolved.status().code() == absl::StatusCode::kInvalidArgument;
    return Failure{bad_args ? 2 : 1, std::string(resolved.status().message())};
  }
  const RenderRequest& r = *resolved;
  if (!o.quiet && !follower) {
    std::printf("model %s (%s of weights) loaded in %.1fs\n", info.name.c_str(),
                HumanBytes(info.parameter_bytes).c_str(), SecondsSince(start));
    std::printf("%s\n%s: %s\n", BackendLine(DescribeBackends()).c_str(), placement->line.c_str(),
                info.placement.c_str());
    if (r.frames == 1) {
      std::printf("rendering an image %dx%d", r.width, r.height);
    } else {
      std::printf("rendering %dx%d, %d frames at %g fps (%.1fs)", r.width, r.height, r.frames,
                  r.fps, r.frames / r.fps);
    }
    std::printf(", %d steps %s, cfg %g, seed %llu -> %s\n", r.steps, r.sampler.c_str(), r.cfg_scale,
                static_cast<unsigned long long>(r.seed), o.output.c_str());
    if (const absl::StatusOr<CacheOptions> cache = ResolveCacheOptions(info.default_cache, r.cache);
        cache.ok() && cache->policy != CachePolicyKind::kNone) {
      std::printf("feature cache: %s\n", DescribeCacheOptions(*cache).c_str());
    }
    if (r.attention.attention_window >= 0) {  // a kind with an exact branch
      std::printf(
          "attention: %s, window %d blocks%s\n", info.attention.c_str(),
          r.attention.attention_window,
          r.attention.sla_topk >= 0 ? absl::StrCat(", top-k ", r.attention.sla_topk).c_str() : "");
    }
    std::fflush(stdout);
  }

  VideoSpec spec = SpecFor(r, info, o.format);
  if (o.crf) spec.crf = static_cast<int>(*o.crf);
  spec.preset = o.preset;
  if (!o.quiet && world > 1 && group.local != nullptr) {
    std::printf("group of %d ranks, %d threads each:", world, renderer_options.threads);
    for (size_t i = 0; i < group.local->pids().size(); ++i) {
      std::printf(" rank %zu pid %d,", i + 1, static_cast<int>(group.local->pids()[i]));
    }
    std::printf(" rendezvous %s\n", group.options->address.c_str());
    std::fflush(stdout);
  }
  std::unique_ptr<FrameSink> file =
      follower ? std::make_unique<DiscardSink>() : NewFileEncoderSink(o.output);
  if (absl::Status s = file->Open(spec); !s.ok()) {
    return Failure{s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1,
                   std::string(s.message())};
  }
  std::optional<ContactSheet> sheet;
  if (!o.preview.empty()) sheet.emplace(r.width, r.height, r.frames);
  PreviewTee sink(*file, sheet ? &*sheet : nullptr);

  const auto render_start = std::chrono::steady_clock::now();
  absl::Status status;
  RenderProgress last;
  {
    ProgressBar bar(stdout,
                    o.quiet || follower ? ProgressBar::Style::kQuiet : ProgressBar::Style::kAuto,
                    "render");
    CancelOnInterrupt interrupt;
    status = (*renderer)->Render(
        r, sink,
        [&bar, &last](const RenderProgress& p) {
          last = p;
          bar.Update({p.step, p.total_steps, p.block, p.total_blocks, p.elapsed_s, p.eta_s, ""});
        },
        &g_cancel);
  }
  if (!status.ok()) {
    sink.Abort();
    if (status.code() == absl::StatusCode::kCancelled || g_cancel) {
      return Failure{130, "cancelled; nothing was written"};
    }
    std::string message(status.message());
    if (world > 1) message = absl::StrCat("rank ", rank, " of ", world, ": ", message);
    if (group.local != nullptr) {
      // Name the rank that died, if one did (it is reaped within moments of its connection
      // closing).
      std::string dead;
      for (int i = 0; i < 25 && dead.empty(); ++i) {
        dead = group.local->DeadRanks();
        if (dead.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!dead.empty()) absl::StrAppend(&message, " [", dead, "]");
    }
    return Failure{1, message};
  }
  if (follower) return std::nullopt;
  if (group.local != nullptr) {
    if (absl::Status s = group.local->Wait(absl::Now() + group.options->timeout); !s.ok()) {
      sink.Abort();
      return Failure{1, absl::StrCat("the group's other ranks failed: ", s.message())};
    }
  }
  const absl::StatusOr<SinkResult> result = sink.Close();
  if (!result.ok()) return Failure{1, std::string(result.status().message())};
  const double render_s = SecondsSince(render_start);
  std::printf("wrote %s (%s, %lld %s, %dx%d, %s) in %.1fs", result->path.c_str(),
              result->mime_type.c_str(), static_cast<long long>(result->frames),
              result->frames == 1 ? "frame" : "frames", r.width, r.height,
              HumanBytes(result->bytes).c_str(), SecondsSince(start));
  if (result->frames > 1) std::printf(", %.2f frames/s", result->frames / render_s);
  std::printf("\n");
  if (last.block_forwards_skipped > 0 && !o.quiet) {
    const int64_t total = last.block_forwards_computed + last.block_forwards_skipped;
    std::printf("cache: %lld of %lld transformer-block forwards skipped (%.1f%%)\n",
                static_cast<long long>(last.block_forwards_skipped), static_cast<long long>(total),
                100.0 * last.block_forwards_skipped / total);
  }
  if (groups && !o.quiet) {
    // What the group cost rank 0 (time in communication includes waiting for peers).
    if (const GlooCommunicator* sp = groups->sequence()) {
      const GlooCommunicator::Traffic& t = sp->traffic();
      std::printf(
          "sequence parallel: rank 0 sent %s (attention sums %s, conv halos %s, output bands %s), "
          "%.2fs in communication (%.0f%% of the render)\n",
          HumanBytes(t.total()).c_str(), HumanBytes(t.all_reduce).c_str(),
          HumanBytes(t.exchange).c_str(), HumanBytes(t.all_gather).c_str(), t.seconds,
          100.0 * t.seconds / std::max(render_s, 1e-9));
    }
    if (const GlooCommunicator* cfg = groups->cfg()) {
      const GlooCommunicator::Traffic& t = cfg->traffic();
      std::printf("cfg parallel: rank 0 sent %s (velocities), %.2fs in communication (%.0f%%)\n",
                  HumanBytes(t.total()).c_str(), t.seconds,
                  100.0 * t.seconds / std::max(render_s, 1e-9));
    }
  }
  if (!o.stats_json.empty()) {
    nlohmann::json stats = {{"world", world},
                            {"threads", renderer_options.threads},
                            {"render_seconds", render_s},
                            {"frames", result->frames},
                            {"token_rows", r.height / std::max(1, info.spatial_factor)},
                            {"token_cols", r.width / std::max(1, info.spatial_factor)},
                            {"block_forwards_computed", last.block_forwards_computed},
                            {"block_forwards_skipped", last.block_forwards_skipped}};
    auto traffic = [](const GlooCommunicator::Traffic& t) {
      return nlohmann::json{{"all_reduce_bytes", t.all_reduce},
                            {"exchange_bytes", t.exchange},
                            {"all_gather_bytes", t.all_gather},
                            {"seconds", t.seconds}};
    };
    if (groups && groups->sequence()) stats["sequence"] = traffic(groups->sequence()->traffic());
    if (groups && groups->cfg()) stats["cfg"] = traffic(groups->cfg()->traffic());
    std::ofstream out(o.stats_json);
    out << stats.dump(2) << "\n";
    if (!out) return Failure{1, absl::StrCat("cannot write ", o.stats_json)};
  }
  if (sheet) {
    if (absl::Status s = sheet->Write(o.preview); !s.ok()) {
      return Failure{1, absl::StrCat("preview: ", s.message())};
    }
    std::printf("wrote %s (contact sheet, %d frames)\n", o.preview.c_str(), sheet->tiles());
  }
  return std::nullopt;
}

int RunRender(const std::vector<std::string_view>& args) {
  for (std::string_view a : args) {
    if (a == "-h" || a == "--help") {
      std::printf(kUsageFormat, absl::StrCat(kCacheFlagsUsage, kAttentionFlagsUsage).c_str());
      return 0;
    }
  }
  const absl::StatusOr<Options> options = ParseOptions(args);
  if (!options.ok()) {
    std::fprintf(stderr, "reel render: %s (see reel render --help)\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  GroupRun run;
  GroupOptions group;
  std::optional<LocalGroup> local;
  const Options& o = *options;
  const absl::Duration timeout = absl::Seconds(o.group_timeout.value_or(30.0));
  if (o.rank) {
    group.group_id = o.group_id;
    group.rank = static_cast<int>(*o.rank);
    group.world_size = static_cast<int>(*o.ranks);
    group.address = o.rendezvous;
    group.timeout = timeout;
    run.options = &group;
  } else if (o.ranks.value_or(1) > 1) {
    absl::StatusOr<LocalGroup> started =
        LocalGroup::Start("render", args, static_cast<int>(*o.ranks), timeout);
    if (!started.ok()) {
      std::fprintf(stderr, "reel render: %s\n", std::string(started.status().message()).c_str());
      return 1;
    }
    local.emplace(std::move(*started));
    group = local->options();
    run.options = &group;
    run.local = &*local;
  }
  if (const std::optional<Failure> failure = Render(o, run)) {
    std::fprintf(stderr, "reel render: %s\n", failure->message.c_str());
    return failure->code;
  }
  return 0;
}

}  // namespace
REEL_COMMAND("render", "render a video or image from a text prompt, in this process", RunRender);
}  // namespace reel::cli
