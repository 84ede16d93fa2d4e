#pragma once
// The gateway process in one object: job store (SQLite, or PostgreSQL shared with other gateways),
// scheduler, the public GenerationService and the internal WorkerService on one gRPC port, or
// WorkerService on a listener of its own (each with grpc.health.v1 and server reflection), and
// /metrics + /healthz on a plain-HTTP port. Used by reel-gateway, `reel serve` and the tests.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "services/common/auth.h"
#include "services/common/http_server.h"
#include "services/common/metrics.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/generation_service.h"
#include "services/gateway/http_api.h"
#include "services/gateway/job_store_factory.h"
#include "services/gateway/scheduler.h"
#include "services/gateway/worker_service.h"

namespace reel::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  std::string data_dir;                    // holds jobs.db and results/ (created if missing)
  // The job store (job_store_factory.h): "" = $REEL_STORE, or SQLite <data_dir>/jobs.db when that
  // is unset too; sqlite:PATH; postgresql://... (several gateways may share it; results/ in
  // data_dir must then be one shared volume).
  std::string store;
  absl::Duration store_retry_budget = absl::Seconds(15);  // PostgreSQL unreachable → UNAVAILABLE
  std::string result_ttl;  // flag text for scheduler.result_ttl ("" or "0": keep forever)
  // "": WorkerService is served on `listen` too. Otherwise its own host:port (port 0: any free
  // port), e.g. an address only the workers' network reaches; `listen` then serves the public API
  // alone and its reflection does not advertise WorkerService.
  std::string worker_listen;
  std::string token_file;  // "": no authentication (services/common/auth.h: roles, names)
  std::vector<std::string> extra_worker_tokens;  // role worker, besides the file's (all-in-one)
  std::string tls_cert_file;                     // PEM; with tls_key_file: serve TLS only
  std::string tls_key_file;
  std::string metrics_host = "127.0.0.1";
  int metrics_port = -1;  // -1: no HTTP port; 0: any free port
  // "": none. Otherwise host:port (port 0: any free port) of the HTTP/JSON API, its Server-Sent
  // Events and progressive results, the page at `/`, and /metrics + /healthz (http_api.h).
  std::string http_listen;
  int max_threads = 256;                // gRPC server threads (each Watch/Lease holds one)
  SchedulerOptions scheduler;           // result_dir is set to <data_dir>/results
  GenerationServiceOptions generation;  // per-client stream cap, cost budget
};

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options);
  ~Gateway();

  int port() const { return port_; }
  // WorkerService's port: worker_listen's, or port() when it shares the public one.
  int worker_port() const { return worker_server_ != nullptr ? worker_port_ : port_; }
  int metrics_port() const { return metrics_port_; }
  int http_port() const { return http_port_; }  // -1 without http_listen
  std::string result_dir() const { return options_.scheduler.result_dir; }
  // A channel to the server with WorkerService that skips the network (the all-in-one worker).
  std::shared_ptr<grpc::Channel> InProcessChannel();
  Scheduler& scheduler() { return *scheduler_; }
  JobStore& store() { return *store_; }
  const service::MetricsRegistry& metrics() const { return registry_; }

  // Reports NOT_SERVING, stops scheduling, then gives in-flight calls `grace` to end. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(2));
  // Blocks until Shutdown() (from another thread).
  void Wait();

 private:
  explicit Gateway(GatewayOptions options);
  absl::Status Init();

  GatewayOptions options_;
  service::TokenSet tokens_;
  service::MetricsRegistry registry_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<GenerationServiceImpl> generation_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> worker_server_;  // only with worker_listen
  int worker_port_ = 0;
  service::HttpServer http_;
  std::unique_ptr<HttpApi> http_api_;
  service::HttpServer api_http_;
  int http_port_ = -1;
  int port_ = 0;
  int metrics_port_ = -1;
  bool shut_down_ = false;
};

}  // namespace reel::gateway
