#pragma once
// The gateway's command-line flags, shared by reel-gateway and `reel serve`.
#include "services/common/flags.h"
#include "services/gateway/gateway.h"

namespace reel::gateway {

// Flags that are not GatewayOptions fields as such; ApplyGatewayFlags() moves them in after
// parsing.
struct GatewayFlagValues {
  int heartbeat_ms = 1000;
  int worker_timeout_ms = 10000;
  int64_t max_queued = 1024;
  int64_t max_queued_per_client = 256;
  // 512 × 512 pixels × 256 frames × 50 steps: hours of work for one job on a CPU worker, minutes on
  // a GPU; a deployment with bigger workers raises it.
  int64_t max_job_cost = int64_t{512} * 512 * 256 * 50;
  std::string port_file;  // written with the bound gRPC port once serving (for port 0)
  int store_timeout_ms = 15000;
};

// Registers --listen, --worker_listen, --data, --token_file, --tls_cert, --tls_key, --metrics_host,
// --metrics_port, --max_queued, --max_queued_per_client, --max_streams_per_client, --max_job_cost,
// --max_attempts, --heartbeat_ms, --worker_timeout_ms, --port_file, --store, --store_timeout_ms,
// --result_ttl.
void AddGatewayFlags(service::FlagSet& flags, GatewayOptions& options, GatewayFlagValues& values);
void ApplyGatewayFlags(const GatewayFlagValues& values, GatewayOptions& options);

// Writes `port` to `path` atomically (a reader never sees a half-written file). Empty path:
// nothing.
absl::Status WritePortFile(const std::string& path, int port);

}  // namespace reel::gateway
