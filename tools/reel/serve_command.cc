// `reel serve`: the all-in-one server for a laptop or a single box. One process holds the gateway
// (public API + SQLite job store + scheduler), one worker with the model loaded once, and the
// encoder; the worker talks to the gateway through an in-process channel, so the code path is the
// split deployment's without the network.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/generate/random_model.h"
#include "pipeline/generate/renderer.h"
#include "pipeline/tensor/device.h"
#include "services/common/auth.h"
#include "services/common/flags.h"
#include "services/common/signals.h"
#include "services/encoder/file_sink.h"
#include "services/gateway/gateway.h"
#include "services/gateway/gateway_flags.h"
#include "services/worker/memory_limit.h"
#include "services/worker/worker.h"
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
  flags.String("worker_id", &worker_id, "name of the in-process worker");
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
  gateway::ApplyGatewayFlags(values, options);

  // Load the model before opening the port: a bad model dir fails fast instead of accepting jobs.
  std::unique_ptr<Renderer> renderer;
  if (workers == 1 && model_dir == "random") {
    model_dir = (std::filesystem::path(options.data_dir) / "random-model").string();
    if (absl::Status s = WriteRandomModel(model_dir); !s.ok()) {
      std::fprintf(stderr, "reel serve: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  if (workers == 1) {
    RendererOptions renderer_options;
    renderer_options.threads = threads;
    absl::StatusOr<std::unique_ptr<Renderer>> loaded = LoadRenderer(model_dir, renderer_options);
    if (!loaded.ok()) {
      std::fprintf(stderr, "reel serve: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    renderer = *std::move(loaded);
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
        (*gateway)->InProcessChannel(), *renderer,
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
  if (renderer) std::printf("reel serve: %s\n", BackendLine(DescribeBackends()).c_str());
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
  std::printf("reel serve: signal %d, shutting down\n", signal);
  std::fflush(stdout);
  // The worker first: it gives its job back (re-queued) while the gateway can still record that.
  if (in_process != nullptr) in_process->Stop();
  (*gateway)->Shutdown();
  return 0;
}

}  // namespace
REEL_COMMAND("serve", "run the gateway, a worker and the encoder in one process (gRPC API)",
             RunServe);
}  // namespace reel::cli
