// libFuzzer target for the gateway's edge checks: protobuf bytes as a client sends them → a
// GenerateRequest → ValidateGenerateRequest (with no worker registered, and with the tiny model's
// description served) → ResolvedFormat. Must end in OK or INVALID_ARGUMENT, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "reel/v1/generation.pb.h"
#include "reel/v1/worker.pb.h"
#include "services/gateway/validation.h"

namespace {

std::vector<reel::v1::ModelDescription> Served() {
  reel::v1::ModelDescription m;
  m.set_name("reel-tiny");
  m.set_default_width(64);
  m.set_default_height(64);
  m.set_default_frames(8);
  m.set_max_frames(64);
  m.set_default_fps(8);
  m.set_spatial_factor(16);
  m.set_temporal_factor(4);
  m.set_default_steps(20);
  m.set_attention("linear");
  m.set_base_memory_bytes(int64_t{64} << 20);
  m.set_memory_bytes_per_pixel(4096);
  m.set_memory_limit_bytes(int64_t{1} << 30);
  return {m};
}

void Validate(const reel::v1::GenerateRequest& request,
              const std::vector<reel::v1::ModelDescription>& served) {
  const absl::Status s = reel::gateway::ValidateGenerateRequest(request, served);
  // A bad request is INVALID_ARGUMENT whose message starts with the field's name (validation.h).
  if (!s.ok() && (s.code() != absl::StatusCode::kInvalidArgument || s.message().empty())) {
    std::abort();
  }
  if (s.ok()) (void)reel::gateway::ResolvedFormat(request);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<reel::v1::ModelDescription> served = Served();
  reel::v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  Validate(request, {});
  Validate(request, served);
  (void)reel::gateway::ValidateJobId(request.idempotency_key(), "idempotency_key");
  return 0;
}
