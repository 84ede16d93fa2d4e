#pragma once
// reel.v1.EncoderService: frames stream in, container bytes stream out
// (proto/reel/v1/encoder.proto). Each call encodes as messages arrive and forwards bytes as the
// muxer emits them, so memory per call is one request message plus the codec's lookahead; a client
// that sends faster than the encoder works is held back by gRPC flow control, and one that stops
// reading holds the encoder back in turn. Nothing is written to disk, so a cancelled call leaves
// nothing behind.
#include <grpcpp/server.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "reel/v1/encoder.grpc.pb.h"

namespace reel {

struct EncoderServiceOptions {
  int max_streams = 4;              // concurrent Encode calls; more get RESOURCE_EXHAUSTED
  int64_t chunk_bytes = 256 << 10;  // container bytes per response message (at most)
  int codec_threads = 0;            // per encode; 0: the codec decides
};

class EncoderServiceImpl final : public v1::EncoderService::Service {
 public:
  explicit EncoderServiceImpl(EncoderServiceOptions options) : options_(options) {}

  grpc::Status Encode(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::EncodeResponse, v1::EncodeRequest>* stream) override;

  // Calls in progress (for tests and metrics).
  int active_streams() const { return active_.load(); }

 private:
  const EncoderServiceOptions options_;
  std::atomic<int> active_{0};
};

struct EncoderServerOptions {
  std::string listen = "0.0.0.0:50053";  // host:port; port 0 picks a free one
  int64_t max_message_bytes = 64 << 20;  // largest request accepted (one block of frames)
  EncoderServiceOptions service;
};

// A started server and the service it runs. Destroying it shuts the server down.
struct EncoderServer {
  std::unique_ptr<EncoderServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port
  ~EncoderServer();
};

absl::StatusOr<std::unique_ptr<EncoderServer>> StartEncoderServer(
    const EncoderServerOptions& options);

}  // namespace reel
