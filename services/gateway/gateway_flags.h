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
  std::string port_file;  // written with the bound gRPC port once serving (for port 0)
};

// Registers --listen, --data, --token_file, --tls_cert, --tls_key, --metrics_host, --metrics_port,
// --max_queued, --max_attempts, --heartbeat_ms, --worker_timeout_ms, --port_file.
void AddGatewayFlags(service::FlagSet& flags, GatewayOptions& options, GatewayFlagValues& values);
void ApplyGatewayFlags(const GatewayFlagValues& values, GatewayOptions& options);

// Writes `port` to `path` atomically (a reader never sees a half-written file). Empty path:
// nothing.
absl::Status WritePortFile(const std::string& path, int port);

}  // namespace reel::gateway
