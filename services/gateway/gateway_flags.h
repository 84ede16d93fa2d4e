#pragma once
// The gateway's command-line flags, shared by reel-gateway and `reel serve`.
#include "services/common/flags.h"
#include "services/gateway/gateway.h"

namespace reel::gateway {

// Registers --listen, --data, --token_file, --tls_cert, --tls_key, --metrics_port, --metrics_host,
// --max_queued, --max_attempts, --heartbeat_ms, --worker_timeout_ms writing into `options` (through
// the helper ints below, applied by ApplyGatewayFlags after parsing).
struct GatewayFlagValues {
  int heartbeat_ms = 1000;
  int worker_timeout_ms = 10000;
  int64_t max_queued = 1024;
};

void AddGatewayFlags(service::FlagSet& flags, GatewayOptions& options, GatewayFlagValues& values);
void ApplyGatewayFlags(const GatewayFlagValues& values, GatewayOptions& options);

}  // namespace reel::gateway
