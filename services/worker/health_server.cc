#include "services/worker/health_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace reel::worker {

absl::StatusOr<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& address) {
  // The default health service is created by every server built after this call; this process
  // builds no other server.
  grpc::EnableDefaultHealthCheckService(true);
  // gRPC 1.51 refuses to build a server whose only service is the default health service ("At
  // least one of the completion queues must be frequently polled"): reflection is a synchronous
  // service that needs no code of ours, and lets grpcurl inspect the port.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto health = std::unique_ptr<HealthServer>(new HealthServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &health->port_);
  health->server_ = builder.BuildAndStart();
  if (!health->server_ || health->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("health: cannot listen on '", address, "'"));
  }
  health->SetServing(false);
  return health;
}

HealthServer::~HealthServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

void HealthServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus("reel.v1.Worker", serving);
}

}  // namespace reel::worker
