#include "services/gateway/parse_error_interceptor.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace reel::gateway {
namespace {

using grpc::experimental::InterceptionHookPoints;

class ParseErrorInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit ParseErrorInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : "?") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;  // deserialization failed: the handler will not run
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      // An INTERNAL with an empty message comes only from the codegen's failed parse (every error
      // of ours says what went wrong), so it is recognised even if POST_RECV_MESSAGE was not seen.
      if (status.error_code() == grpc::StatusCode::INTERNAL &&
          (unparsed_ || status.error_message().empty())) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("request: the bytes sent to ", method_,
                         " do not parse as its request message (malformed protobuf, or a string "
                         "field that is not valid UTF-8)")));
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  bool unparsed_ = false;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ParseErrorInterceptor(info);  // gRPC owns and deletes it
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewParseErrorInterceptorFactory() {
  return std::make_unique<Factory>();
}

}  // namespace reel::gateway
