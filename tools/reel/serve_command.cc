// `reel serve`: the all-in-one server for a laptop or a single box. One process holds the gateway
// (public API + SQLite job store + scheduler), one worker with the model loaded once, and the
// encoder; the worker talks to the gateway through an in-process channel, so the code path is the
// split deployment's without the network.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pipeline/generate/random_model.h"
#include "pipeline/generate/renderer.h"
#include "pipeline/parallel/worker_groups.h"
#include "pipeline/tensor/device.h"
#include "services/common/auth.h"
#include "services/common/flags.h"
#include "services/common/signals.h"
#include "services/encoder/file_sink.h"
#include "services/gateway/gateway.h"
#include "services/gateway/gateway_flags.h"
#include "services/worker/group_renderer.h"
#include "services/worker/memory_limit.h"
#include "services/worker/worker.h"
#include "tools/reel/cli_group.h"
#include "tools/reel/cli_models.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {

std::string DefaultDataDir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return absl::StrCat(home, "/.local/share/reel");
  }
  return "reel-data";
}

// Rank ≥ 1 of `reel serve --ranks N`: renders the share of every job rank 0 broadcasts until rank 0
// shuts the group down (exit 0) or the group breaks (exit 1, naming what failed).
int ServeAsFollower(const GroupOptions& group, bool cfg_parallel, std::string model_dir,
                    const std::string& data_dir, int threads, const Placement& placement) {
  // Rank 0 wrote the random model before starting this rank.
  if (model_dir == "random")
    model_dir = (std::filesystem::path(data_dir) / "random-model").string();
  absl::StatusOr<WorkerGroups> joined = WorkerGroups::Join(group, cfg_parallel);
  if (!joined.ok()) {
    std::fprintf(stderr, "reel serve: rank %d of %d: cannot join the group: %s\n", group.rank,
                 group.world_size, joined.status().ToString().c_str());
    return 1;
  }
  RendererOptions renderer_options;
  renderer_options.threads = threads;
  renderer_options.parallel = joined->context();
  renderer_options.placement = placement;
  absl::StatusOr<std::unique_ptr<Renderer>> renderer = LoadRenderer(model_dir, renderer_options);
  if (!renderer.ok()) {
    std::fprintf(stderr, "reel serve: rank %d of %d: %s\n", group.rank, group.world_size,
                 renderer.status().ToString().c_str());
    return 1;
  }
  const absl::Status followed = worker::FollowGroup(**renderer, *joined->world());
  if (!followed.ok()) {
    std::fprintf(stderr, "reel serve: rank %d of %d: the group is broken: %s\n", group.rank,
                 group.world_size, followed.ToString().c_str());
    return 1;
  }
  return 0;
}

int RunServe(const std::vector<std::string_view>& args) {
  // Before any thread exists, so that every thread inherits the blocked mask and sigwait gets them.
  service::BlockTerminationSignals();
  gateway::GatewayOptions options;
  options.listen = "127.0.0.1:50051";
  options.data_dir = DefaultDataDir();
  gateway::GatewayFlagValues values;
  std::string model_dir = DefaultModelDir();
  std::string worker_id = "local";
  int workers = 1, threads = 0;
  service::FlagSet flags("reel serve [options]");
  gateway::AddGatewayFlags(flags, options, values);
  flags.String(
      "model", &model_dir,
      "model directory for the in-process worker; 'random': a tiny random-weight model written "
      "into the data directory (to try the API without a trained model)");
  flags.Int("workers", &workers,
            "in-process workers: 1, or 0 for a gateway that waits for reel-worker");
  flags.Int("threads", &threads, "CPU threads for rendering (0: all cores)");
  std::string device = "auto", precision;
  flags.String("device", &device,
               "cpu | cuda | cuda:N | auto (CUDA when usable; a sequence-parallel group: the CPU)");
  flags.String("precision", &precision, "f32 | bf16 (default: bf16 on a GPU, f32 on the CPU)");
  flags.String("worker_id", &worker_id, "name of the in-process worker");
  // A local worker group: the in-process worker becomes rank 0 of `ranks` processes on this host
  // that shard every job (sequence parallel, optionally CFG parallel), like `reel render --ranks`.
  int ranks = 1;
  bool cfg_parallel = false, quiet = false;
  double group_timeout_s = 30;
  GroupOptions follower;  // set on ranks ≥ 1, which rank 0 starts with these flags
  follower.rank = 0;
  flags.Int("ranks", &ranks,
            "processes of the in-process worker's group on this host (1: no group); each renders "
            "with cores / ranks threads unless --threads says otherwise");
  flags.Bool("cfg_parallel", &cfg_parallel,
             "with --ranks 2·S: the two guidance branches on the two halves of the group");
  flags.Double("group_timeout", &group_timeout_s,
               "with --ranks: seconds any rank waits for the others before the group gives up");
  flags.Int("rank", &follower.rank, "(set by rank 0 for the ranks it starts)");
  flags.String("group_id", &follower.group_id, "(set by rank 0 for the ranks it starts)");
  flags.String("rendezvous", &follower.address, "(set by rank 0 for the ranks it starts)");
  flags.Bool("quiet", &quiet, "(set by rank 0 for the ranks it starts)");
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (flags.help_requested()) {
    std::printf(
        "%s\nServes reel.v1.GenerationService; try `reel submit --server HOST:PORT PROMPT`.\n",
        flags.Help().c_str());
    return 0;
  }
  if (!rest.ok() || !rest->empty()) {
    std::fprintf(stderr, "reel serve: %s\n",
                 rest.ok() ? "unexpected positional arguments"
                           : std::string(rest.status().message()).c_str());
    return 2;
  }
  if (workers < 0 || workers > 1) {
    std::fprintf(stderr, "reel serve: --workers must be 0 or 1 (run reel-worker for more)\n");
    return 2;
  }
  if (ranks < 1 || (ranks > 1 && workers == 0)) {
    std::fprintf(stderr,
                 "reel serve: --ranks must be at least 1, and needs the in-process worker\n");
    return 2;
  }
  if (!(group_timeout_s > 0)) {
    std::fprintf(stderr, "reel serve: --group_timeout must be positive\n");
    return 2;
  }
  if (cfg_parallel && ranks % 2 != 0) {
    std::fprintf(stderr, "reel serve: --cfg_parallel needs an even --ranks (2 x sequence ranks)\n");
    return 2;
  }
  if (follower.rank < 0 || follower.rank >= ranks) {
    std::fprintf(stderr, "reel serve: --rank must be in [0, --ranks)\n");
    return 2;
  }
  gateway::ApplyGatewayFlags(values, options);
  if (threads == 0) threads = DefaultThreadsPerRank(ranks);
  const absl::StatusOr<PlacementChoice> placement =
      ResolvePlacement(device, precision, ranks > 1 && !(cfg_parallel && ranks == 2));
  if (!placement.ok()) {
    std::fprintf(stderr, "reel serve: %s\n", std::string(placement.status().message()).c_str());
    return placement.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (follower.rank > 0) {
    follower.world_size = ranks;
    follower.timeout = absl::Seconds(group_timeout_s);
    return ServeAsFollower(follower, cfg_parallel, model_dir, options.data_dir, threads,
                           placement->placement);
  }

  // Load the model before opening the port: a bad model dir fails fast instead of accepting jobs.
  std::unique_ptr<Renderer> renderer;
  if (workers == 1 && model_dir == "random") {
    model_dir = (std::filesystem::path(options.data_dir) / "random-model").string();
    if (absl::Status s = WriteRandomModel(model_dir); !s.ok()) {
      std::fprintf(stderr, "reel serve: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  // Ranks 1..N−1 are this binary again (`reel serve ARGS --rank R ...`); they load the model
  // themselves and follow rank 0, and are killed with it when this process leaves RunServe.
  std::optional<LocalGroup> local;
  std::optional<WorkerGroups> groups;
  std::atomic<bool> group_broke{false};  // before `leader`, whose keep-alive thread may set it
  std::unique_ptr<worker::GroupLeaderRenderer> leader;
  if (workers == 1) {
    RendererOptions renderer_options;
    renderer_options.threads = threads;
    renderer_options.placement = placement->placement;
    if (ranks > 1) {
      absl::StatusOr<LocalGroup> started =
          LocalGroup::Start("serve", args, ranks, absl::Seconds(group_timeout_s));
      if (!started.ok()) {
        std::fprintf(stderr, "reel serve: %s\n", started.status().ToString().c_str());
        return 1;
      }
      local.emplace(*std::move(started));
      absl::StatusOr<WorkerGroups> joined = WorkerGroups::Join(local->options(), cfg_parallel);
      if (!joined.ok()) {
        const std::string dead = local->DeadRanks();
        std::fprintf(stderr, "reel serve: cannot form the worker group: %s%s%s\n",
                     joined.status().ToString().c_str(), dead.empty() ? "" : "; ", dead.c_str());
        return 1;
      }
      groups.emplace(*std::move(joined));
      renderer_options.parallel = groups->context();
    }
    absl::StatusOr<std::unique_ptr<Renderer>> loaded = LoadRenderer(model_dir, renderer_options);
    if (!loaded.ok()) {
      std::fprintf(stderr, "reel serve: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    renderer = *std::move(loaded);
    if (groups) {
      // A rank that dies breaks the group for good: the job in hand goes back to the queue (the
      // worker releases it when Render fails) and this process stops, with the reason, so that a
      // supervisor (or the user) starts a fresh group; the durable queue keeps every job.
      leader = std::make_unique<worker::GroupLeaderRenderer>(
          *renderer, *groups->world(), absl::Seconds(group_timeout_s) / 3, [&group_broke] {
            group_broke = true;
            kill(getpid(), SIGTERM);
          });
    }
  }
  // The in-process worker authenticates like any other, with a token only this process knows.
  const std::string internal_token = service::RandomToken();
  options.extra_worker_tokens.push_back(internal_token);
  absl::StatusOr<std::unique_ptr<gateway::Gateway>> gateway = gateway::Gateway::Start(options);
  if (!gateway.ok()) {
    std::fprintf(stderr, "reel serve: %s\n", gateway.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<worker::Worker> in_process;
  if (renderer != nullptr) {
    worker::WorkerOptions worker_options;
    worker_options.worker_id = worker_id;
    worker_options.result_dir = (*gateway)->result_dir();
    worker_options.memory_limit_bytes = worker::CgroupMemoryLimitBytes();
    worker_options.token = options.token_file.empty() ? "" : internal_token;
    in_process = std::make_unique<worker::Worker>(
        (*gateway)->InProcessChannel(), leader ? *leader : *renderer,
        [](const std::string& path) { return NewFileEncoderSink(path, {.progressive = true}); },
        worker_options);
    in_process->Start();
  }
  if (absl::Status s = gateway::WritePortFile(values.port_file, (*gateway)->port()); !s.ok()) {
    std::fprintf(stderr, "reel serve: %s\n", s.ToString().c_str());
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("reel serve: listening on %s:%d (data %s%s%s)\n", host.c_str(), (*gateway)->port(),
              options.data_dir.c_str(), renderer ? ", model " : ", no worker",
              renderer ? renderer->info().name.c_str() : "");
  if (renderer) {
    std::printf("reel serve: %s\nreel serve: %s: %s\n", BackendLine(DescribeBackends()).c_str(),
                placement->line.c_str(), renderer->info().placement.c_str());
  }
  if (local) {
    std::printf("reel serve: worker group of %d ranks%s, %d threads each (", ranks,
                cfg_parallel ? " (cfg parallel)" : "", threads);
    for (size_t i = 0; i < local->pids().size(); ++i) {
      std::printf("%srank %zu: pid %d", i ? ", " : "", i + 1, static_cast<int>(local->pids()[i]));
    }
    std::printf(")\n");
  }
  if ((*gateway)->metrics_port() >= 0) {
    std::printf("reel serve: metrics on http://%s:%d/metrics\n", options.metrics_host.c_str(),
                (*gateway)->metrics_port());
  }
  if ((*gateway)->http_port() >= 0) {
    const std::string http_host = options.http_listen.substr(0, options.http_listen.rfind(':'));
    std::printf("reel serve: page and HTTP/JSON API on http://%s:%d/\n",
                http_host.empty() ? "127.0.0.1" : http_host.c_str(), (*gateway)->http_port());
  }
  std::fflush(stdout);

  const int signal = service::WaitForTerminationSignal();
  const bool broken = group_broke;
  if (broken) {
    // Which rank ended, if it did (a hung one is killed with the rest below). A killed rank's
    // sockets close before the kernel lets its parent reap it, so the group can break a moment
    // before the death can be read (waitpid WNOHANG): look for up to a second.
    std::string dead;
    const absl::Time give_up = absl::Now() + absl::Seconds(1);
    while (local && (dead = local->DeadRanks()).empty() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    std::fprintf(stderr,
                 "reel serve: the worker group broke%s%s; its job went back to the queue and the "
                 "server stops (start it again to re-form the group)\n",
                 dead.empty() ? "" : ": ", dead.c_str());
  } else {
    std::printf("reel serve: signal %d, shutting down\n", signal);
  }
  std::fflush(stdout);
  // The worker first: it gives its job back (re-queued) while the gateway can still record that.
  if (in_process != nullptr) in_process->Stop();
  if (leader != nullptr) (void)leader->Shutdown();
  (*gateway)->Shutdown();
  if (local && !broken) {
    if (absl::Status s = local->Wait(absl::Now() + absl::Seconds(group_timeout_s)); !s.ok()) {
      std::fprintf(stderr, "reel serve: %s\n", s.ToString().c_str());
    }
  }
  return broken ? 1 : 0;
}

}  // namespace
REEL_COMMAND("serve", "run the gateway, a worker and the encoder in one process (gRPC API)",
             RunServe);
}  // namespace reel::cli
