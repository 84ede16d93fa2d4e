#include "services/gateway/gateway_flags.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace reel::gateway {

void AddGatewayFlags(service::FlagSet& flags, GatewayOptions& options, GatewayFlagValues& values) {
  flags.String("listen", &options.listen, "gRPC address host:port (port 0: any free port)");
  flags.String("worker_listen", &options.worker_listen,
               "serve WorkerService on this host:port only (empty: on --listen too)");
  flags.String("data", &options.data_dir, "directory for jobs.db (SQLite) and results/");
  flags.String("token_file", &options.token_file,
               "bearer tokens, one `TOKEN [client|admin|worker [NAME]]` per line; empty: no "
               "authentication");
  flags.String("tls_cert", &options.tls_cert_file,
               "PEM certificate chain; with --tls_key serves TLS");
  flags.String("tls_key", &options.tls_key_file, "PEM private key");
  flags.String("metrics_host", &options.metrics_host,
               "address of the /metrics and /healthz HTTP port");
  flags.Int("metrics_port", &options.metrics_port,
            "HTTP port for /metrics and /healthz (-1: off, 0: any)");
  flags.String("http_listen", &options.http_listen,
               "HOST:PORT of the HTTP/JSON API and the page at / (port 0: any free port; empty: "
               "off), e.g. 127.0.0.1:8080");
  flags.Int64("max_queued", &values.max_queued,
              "QUEUED jobs beyond which Submit is RESOURCE_EXHAUSTED");
  flags.Int64(
      "max_queued_per_client", &values.max_queued_per_client,
      "QUEUED jobs of one client beyond which its Submit is RESOURCE_EXHAUSTED (0: no cap)");
  flags.Int("max_streams_per_client", &options.generation.max_streams_per_client,
            "open Watch/FetchResult streams per client (0: no cap)");
  flags.Int64("max_job_cost", &values.max_job_cost,
              "budget per job: width*height*frames*steps above it is refused (0: none)");
  flags.Int("max_attempts", &options.scheduler.max_attempts,
            "leases per job before a lost worker fails it");
  flags.Int("heartbeat_ms", &values.heartbeat_ms, "heartbeat interval asked of workers");
  flags.Int("worker_timeout_ms", &values.worker_timeout_ms,
            "a worker silent this long is lost and its job re-queued");
  flags.String("port_file", &values.port_file,
               "write the bound gRPC port to this file once serving");
  flags.String("store", &options.store,
               "job store: sqlite:PATH or postgresql://USER@HOST/DB (several gateways may share "
               "one); empty: $REEL_STORE, else SQLite in --data");
  flags.Int("store_timeout_ms", &values.store_timeout_ms,
            "how long a call waits for an unreachable PostgreSQL before answering UNAVAILABLE");
  flags.String("result_ttl", &options.result_ttl,
               "delete finished jobs and their results this long after they end, e.g. 24h, 30m "
               "(empty or 0: keep forever)");
}

void ApplyGatewayFlags(const GatewayFlagValues& values, GatewayOptions& options) {
  options.scheduler.heartbeat_interval = absl::Milliseconds(values.heartbeat_ms);
  options.scheduler.worker_timeout = absl::Milliseconds(values.worker_timeout_ms);
  options.scheduler.max_queued_jobs = values.max_queued;
  options.scheduler.max_queued_per_client = values.max_queued_per_client;
  options.generation.max_job_cost = values.max_job_cost;
  options.store_retry_budget = absl::Milliseconds(values.store_timeout_ms);
}

absl::Status WritePortFile(const std::string& path, int port) {
  if (path.empty()) return absl::OkStatus();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << "\n";
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot rename ", tmp, " to ", path));
  return absl::OkStatus();
}

}  // namespace reel::gateway
