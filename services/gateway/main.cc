// reel-gateway: the public API, the job store and the scheduler, without a model (workers connect
// to it). See services/README.md and deploy/.
#include <cstdio>
#include <string_view>
#include <vector>

#include "services/common/flags.h"
#include "services/common/signals.h"
#include "services/gateway/gateway.h"
#include "services/gateway/gateway_flags.h"

int main(int argc, char** argv) {
  reel::service::BlockTerminationSignals();
  reel::gateway::GatewayOptions options;
  options.listen = "0.0.0.0:50051";
  options.data_dir = "/var/lib/reel";
  reel::gateway::GatewayFlagValues values;
  reel::service::FlagSet flags("reel-gateway [options]");
  reel::gateway::AddGatewayFlags(flags, options, values);
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  if (!rest.ok() || !rest->empty()) {
    std::fprintf(stderr, "reel-gateway: %s\n",
                 rest.ok() ? "unexpected positional arguments"
                           : std::string(rest.status().message()).c_str());
    return 2;
  }
  reel::gateway::ApplyGatewayFlags(values, options);
  absl::StatusOr<std::unique_ptr<reel::gateway::Gateway>> gateway =
      reel::gateway::Gateway::Start(options);
  if (!gateway.ok()) {
    std::fprintf(stderr, "reel-gateway: %s\n", gateway.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = reel::gateway::WritePortFile(values.port_file, (*gateway)->port());
      !s.ok()) {
    std::fprintf(stderr, "reel-gateway: %s\n", s.ToString().c_str());
  }
  std::printf("reel-gateway: serving on port %d (data %s, metrics port %d)\n", (*gateway)->port(),
              options.data_dir.c_str(), (*gateway)->metrics_port());
  std::fflush(stdout);
  const int signal = reel::service::WaitForTerminationSignal();
  std::printf("reel-gateway: signal %d, shutting down\n", signal);
  (*gateway)->Shutdown();
  return 0;
}
