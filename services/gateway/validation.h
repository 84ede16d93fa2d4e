#pragma once
// The edge checks of the public API: every limit documented in generation.proto, checked before a
// job exists, each failure an INVALID_ARGUMENT whose message starts with the field's name.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "reel/v1/generation.pb.h"
#include "reel/v1/worker.pb.h"

namespace reel::gateway {

// `served` are the models of the registered workers (empty when none registered yet): with them,
// the model name must be one of theirs and size/frames must fit that model's factors.
absl::Status ValidateGenerateRequest(const v1::GenerateRequest& request,
                                     const std::vector<v1::ModelDescription>& served);

// A job id as the server issues them (`field` names the request field in the message).
absl::Status ValidateJobId(absl::string_view id, absl::string_view field = "id");

// The container format (VideoSpec.format) a request renders to: service::ContainerFormat.
std::string ResolvedFormat(const v1::GenerateRequest& request);

}  // namespace reel::gateway
