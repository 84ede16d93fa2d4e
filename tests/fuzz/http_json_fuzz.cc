// libFuzzer target for the HTTP/JSON API's parsers of outside input: the input's first line is a
// Range header (services/gateway/http_range.h), the rest a POST /v1/jobs body → ParseJsonBody →
// ValidateGenerateRequest. A range that parses must lie within the resource; every failure must be
// the documented status with a message; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "reel/v1/generation.pb.h"
#include "services/gateway/http_json.h"
#include "services/gateway/http_range.h"
#include "services/gateway/validation.h"

namespace {

void CheckRange(const std::string& header, int64_t total) {
  const absl::StatusOr<reel::gateway::ByteRange> r = reel::gateway::ParseRange(header, total);
  if (r.ok()) {
    if (r->first < 0 || r->first > r->last || r->last >= total) std::abort();
  } else if (r.status().code() != absl::StatusCode::kInvalidArgument &&
             r.status().code() != absl::StatusCode::kOutOfRange) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string header = input.substr(0, newline);
  for (int64_t total : {int64_t{0}, int64_t{1}, int64_t{100}, int64_t{1} << 40}) {
    CheckRange(header, total);
  }
  reel::service::HttpRequest request;
  request.method = "POST";
  request.path = "/v1/jobs";
  request.body = newline == std::string::npos ? "" : input.substr(newline + 1);
  reel::v1::GenerateRequest submit;
  const absl::Status parsed = reel::gateway::ParseJsonBody(request, &submit);
  if (!parsed.ok()) {
    if (parsed.code() != absl::StatusCode::kInvalidArgument || parsed.message().empty()) {
      std::abort();
    }
    return 0;
  }
  const absl::Status valid = reel::gateway::ValidateGenerateRequest(submit, {});
  if (!valid.ok() && valid.code() != absl::StatusCode::kInvalidArgument) std::abort();
  return 0;
}
