#pragma once
// A JSON request body as a protobuf message, by protobuf's own JSON mapping (unknown fields are
// errors): the one place the HTTP/JSON API parses what a client sends, fuzzed by
// tests/fuzz/http_json_fuzz.cc.
#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "services/common/http_server.h"

namespace reel::gateway {

// INVALID_ARGUMENT naming what is wrong: a body over the server's limit, an empty body, or one that
// is not a JSON object of `message`'s type.
absl::Status ParseJsonBody(const service::HttpRequest& request, google::protobuf::Message* message);

}  // namespace reel::gateway
