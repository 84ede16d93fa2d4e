#pragma once
// A server interceptor that turns "the request bytes did not parse" into INVALID_ARGUMENT with a
// message. gRPC's protobuf codegen answers a request it cannot deserialize (bytes that are not the
// message, or a proto3 string field that is not UTF-8) with INTERNAL and an empty message before
// any handler runs, which tells a client the server broke rather than that its request was bad.
#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace reel::gateway {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewParseErrorInterceptorFactory();

}  // namespace reel::gateway
