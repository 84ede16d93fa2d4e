#pragma once
// The worker's only listening port (it dials the gateway; nothing dials it): grpc.health.v1 for
// Kubernetes' startup and readiness probes (deploy/). NOT_SERVING while the model loads and until
// the worker has started leasing, SERVING after, NOT_SERVING again once it is stopping.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"

namespace reel::worker {

class HealthServer {
 public:
  // Listens on `address` (host:port; port 0: any free port), NOT_SERVING.
  static absl::StatusOr<std::unique_ptr<HealthServer>> Start(const std::string& address);
  ~HealthServer();

  // The overall status ("") and the worker's own name, reel.v1.Worker.
  void SetServing(bool serving);
  int port() const { return port_; }

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace reel::worker
