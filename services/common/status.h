#pragma once
// absl::Status <-> grpc::Status: the services speak absl inside and gRPC on the wire (same code
// numbers).
#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace reel::service {

grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace reel::service
