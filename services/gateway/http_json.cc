#include "services/gateway/http_json.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace reel::gateway {

absl::Status ParseJsonBody(const service::HttpRequest& request,
                           google::protobuf::Message* message) {
  if (request.body_too_large) {
    return absl::InvalidArgumentError(absl::StrCat("request body: larger than the limit of ",
                                                   service::HttpServer::kDefaultMaxBodyBytes,
                                                   " bytes"));
  }
  if (absl::StripAsciiWhitespace(request.body).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("request body: expected a JSON ",
                                                   message->GetDescriptor()->name(),
                                                   " object, got nothing"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(request.body, message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("request body: not a JSON ",
                                                   message->GetDescriptor()->name(), ": ",
                                                   std::string(status.message())));
  }
  return absl::OkStatus();
}

}  // namespace reel::gateway
