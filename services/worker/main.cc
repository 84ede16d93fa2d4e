// reel-worker: loads one model, registers with a gateway, renders the jobs it leases into the
// shared result directory. See services/README.md and deploy/.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/generate/renderer.h"
#include "pipeline/parallel/worker_groups.h"
#include "pipeline/tensor/device.h"
#include "services/common/client.h"
#include "services/common/flags.h"
#include "services/common/signals.h"
#include "services/encoder/file_sink.h"
#include "services/encoder/remote_sink.h"
#include "services/worker/group_renderer.h"
#include "services/worker/health_server.h"
#include "services/worker/memory_limit.h"
#include "services/worker/worker.h"

int main(int argc, char** argv) {
  reel::service::BlockTerminationSignals();
  reel::service::ConnectOptions connect;
  connect.server = "127.0.0.1:50051";
  std::string model_dir = "models/reel-tiny", token_file, encoder_address;
  int threads = 0, lease_wait_ms = 5000;
  reel::worker::WorkerOptions options;
  options.result_dir = "/var/lib/reel/results";
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) options.worker_id = host;

  reel::service::FlagSet flags("reel-worker [options]");
  flags.String("gateway", &connect.server, "the gateway's gRPC address host:port");
  flags.String("model", &model_dir, "model directory (config.json + safetensors)");
  flags.String("result_dir", &options.result_dir, "result directory shared with the gateway");
  flags.String("worker_id", &options.worker_id, "stable worker name (default: the hostname)");
  flags.String("token", &connect.token, "bearer token for the gateway (or $REEL_TOKEN)");
  flags.String("token_file", &token_file, "file whose first token is used");
  flags.String("tls_ca", &connect.tls_ca_file, "PEM CA of the gateway's certificate (enables TLS)");
  flags.Int("threads", &threads, "CPU threads for rendering (0: all cores)");
  std::string device = "auto", precision;
  flags.String("device", &device,
               "cpu | cuda | cuda:N | auto (CUDA when usable; a sequence-parallel group: the CPU)");
  flags.String("precision", &precision, "f32 | bf16 (default: bf16 on a GPU, f32 on the CPU)");
  flags.String("encoder", &encoder_address,
               "host:port of a reel-encoder to stream frames to; empty: encode in this process");
  flags.Int("lease_wait_ms", &lease_wait_ms, "long-poll duration of one LeaseJob call");
  int64_t memory_limit_bytes = -1;
  flags.Int64("memory_limit_bytes", &memory_limit_bytes,
              "memory this worker may use, for the gateway's admission check (-1: the cgroup's "
              "limit; 0: unknown)");
  // A worker group: N ranks shard every job and register with the gateway as one worker (rank 0).
  reel::GroupOptions group;
  group.group_id = "reel-worker";
  double group_timeout_s = 30;
  bool cfg_parallel = false;
  flags.Int("group_size", &group.world_size, "ranks of this worker group (1: no group)");
  flags.Int("rank", &group.rank, "this process's rank in the group (0 leases the jobs)");
  flags.String("group_address", &group.address,
               "where the group meets: HOST:PORT (rank 0 listens) or a shared directory");
  flags.String("group_id", &group.group_id, "names the group at its address");
  flags.Double("group_timeout", &group_timeout_s,
               "seconds any rank waits for the others before the group gives up");
  flags.Bool("cfg_parallel", &cfg_parallel,
             "split the guidance branches over the two halves of the group");
  int health_port = -1;
  flags.Int("health_port", &health_port,
            "grpc.health.v1 port for probes: SERVING once the model is loaded and the worker "
            "runs (-1: off, 0: any)");
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  if (!rest.ok() || !rest->empty()) {
    std::fprintf(stderr, "reel-worker: %s\n",
                 rest.ok() ? "unexpected positional arguments"
                           : std::string(rest.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::string> token = reel::service::ResolveToken(connect.token, token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "reel-worker: %s\n", token.status().ToString().c_str());
    return 2;
  }
  options.token = *token;
  options.lease_wait = absl::Milliseconds(lease_wait_ms);
  options.memory_limit_bytes =
      memory_limit_bytes >= 0 ? memory_limit_bytes : reel::worker::CgroupMemoryLimitBytes();

  // Listening before the model loads, so a startup probe sees NOT_SERVING rather than a refusal.
  std::unique_ptr<reel::worker::HealthServer> health;
  if (health_port >= 0) {
    absl::StatusOr<std::unique_ptr<reel::worker::HealthServer>> started =
        reel::worker::HealthServer::Start(absl::StrCat("0.0.0.0:", health_port));
    if (!started.ok()) {
      std::fprintf(stderr, "reel-worker: %s\n", started.status().ToString().c_str());
      return 2;
    }
    health = *std::move(started);
    std::printf("reel-worker: health on port %d\n", health->port());
    std::fflush(stdout);
  }

  reel::RendererOptions renderer_options;
  renderer_options.threads = threads;
  const absl::StatusOr<reel::PlacementChoice> placement = reel::ResolvePlacement(
      device, precision, group.world_size > 1 && !(cfg_parallel && group.world_size == 2));
  if (!placement.ok()) {
    std::fprintf(stderr, "reel-worker: %s\n", std::string(placement.status().message()).c_str());
    return placement.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  renderer_options.placement = placement->placement;
  std::optional<reel::WorkerGroups> groups;
  if (group.world_size > 1) {
    group.timeout = absl::Seconds(group_timeout_s);
    absl::StatusOr<reel::WorkerGroups> joined = reel::WorkerGroups::Join(group, cfg_parallel);
    if (!joined.ok()) {
      std::fprintf(stderr, "reel-worker: rank %d of %d: %s\n", group.rank, group.world_size,
                   joined.status().ToString().c_str());
      return 1;
    }
    groups.emplace(std::move(*joined));
    renderer_options.parallel = groups->context();
  }
  absl::StatusOr<std::unique_ptr<reel::Renderer>> renderer =
      reel::LoadRenderer(model_dir, renderer_options);
  if (!renderer.ok()) {
    std::fprintf(stderr, "reel-worker: %s\n", renderer.status().ToString().c_str());
    return 1;
  }
  if (groups && group.rank != 0) {
    if (health) health->SetServing(true);
    // A follower: renders what rank 0 leases until rank 0 shuts the group down or a rank dies
    // (then exit 1; a supervisor restarting the ranks re-forms the group).
    const absl::Status followed = reel::worker::FollowGroup(**renderer, *groups->world());
    if (!followed.ok()) {
      std::fprintf(stderr, "reel-worker: rank %d of %d: the group is broken: %s\n", group.rank,
                   group.world_size, followed.ToString().c_str());
      return 1;
    }
    return 0;
  }
  std::unique_ptr<reel::worker::GroupLeaderRenderer> leader;
  if (groups) {
    // A broken group stops this process (its job goes back to the queue); restarting the ranks
    // re-forms the group.
    leader = std::make_unique<reel::worker::GroupLeaderRenderer>(**renderer, *groups->world(),
                                                                 absl::Seconds(group_timeout_s) / 3,
                                                                 [] { kill(getpid(), SIGTERM); });
  }
  reel::Renderer& job_renderer = leader ? *leader : **renderer;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = reel::service::Dial(connect);
  if (!channel.ok()) {
    std::fprintf(stderr, "reel-worker: %s\n", channel.status().ToString().c_str());
    return 2;
  }
  reel::worker::SinkFactory sinks = [](const std::string& path) {
    return reel::NewFileEncoderSink(path, {.progressive = true});
  };
  if (!encoder_address.empty()) {
    // Frames go to the encoder service; the container bytes it streams back land in the same file
    // name.
    reel::service::ConnectOptions encoder_connect;
    encoder_connect.server = encoder_address;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> encoder = reel::service::Dial(encoder_connect);
    if (!encoder.ok()) {
      std::fprintf(stderr, "reel-worker: --encoder: %s\n", encoder.status().ToString().c_str());
      return 2;
    }
    sinks = [encoder = *encoder](const std::string& path) {
      return reel::NewRemoteEncoderSink(encoder, path, {.encoder = {.progressive = true}});
    };
  }
  reel::worker::Worker worker(*channel, job_renderer, sinks, options);
  worker.Start();
  if (health) health->SetServing(true);
  std::printf("reel-worker: model %s, gateway %s, encoder %s\n", (*renderer)->info().name.c_str(),
              connect.server.c_str(),
              encoder_address.empty() ? "in-process" : encoder_address.c_str());
  std::printf("reel-worker: %s\nreel-worker: %s: %s\n",
              reel::BackendLine(reel::DescribeBackends()).c_str(), placement->line.c_str(),
              (*renderer)->info().placement.c_str());
  std::fflush(stdout);
  const int signal = reel::service::WaitForTerminationSignal();
  std::printf("reel-worker: signal %d, releasing the current job and stopping\n", signal);
  if (health) health->SetServing(false);
  worker.Stop();
  if (leader) (void)leader->Shutdown();
  return 0;
}
