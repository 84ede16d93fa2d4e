#include "services/encoder/encoder_service.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "services/encoder/encoder_proto.h"
#include "services/encoder/media_encoder.h"

namespace reel {
namespace {

// Collects the muxer's bytes and sends them as EncodedChunk messages of at most chunk_bytes. The
// blocking Write is the back-pressure: a client that does not read stalls the encoder.
class ChunkWriter {
 public:
  ChunkWriter(grpc::ServerReaderWriter<v1::EncodeResponse, v1::EncodeRequest>* stream,
              int64_t chunk_bytes)
      : stream_(stream), chunk_bytes_(static_cast<size_t>(std::max<int64_t>(1, chunk_bytes))) {}

  absl::Status Append(const uint8_t* data, size_t size) {
    pending_.append(reinterpret_cast<const char*>(data), size);
    return Send(/*all=*/false);
  }

  // Sends whatever is pending, so bytes never wait for the next block; the last chunk is marked as
  // the end of a message's bytes.
  absl::Status Flush() { return Send(/*all=*/true, /*boundary=*/true); }

  // Sends what is left, then the summary.
  absl::Status Finish(const EncodeSummary& summary) {
    if (absl::Status s = Send(/*all=*/true); !s.ok()) return s;
    v1::EncodeResponse response;
    v1::EncodeSummary* out = response.mutable_summary();
    out->set_bytes(summary.bytes);
    out->set_frames(summary.frames);
    out->set_mime_type(summary.mime_type);
    out->set_coded_width(summary.coded_width);
    out->set_coded_height(summary.coded_height);
    if (!stream_->Write(response)) return absl::CancelledError("the client stopped reading");
    return absl::OkStatus();
  }

 private:
  absl::Status Send(bool all, bool boundary = false) {
    size_t sent = 0;
    while (pending_.size() - sent >= chunk_bytes_ || (all && sent < pending_.size())) {
      const size_t n = std::min(chunk_bytes_, pending_.size() - sent);
      v1::EncodeResponse response;
      response.mutable_chunk()->set_offset(offset_);
      response.mutable_chunk()->set_data(pending_.data() + sent, n);
      response.mutable_chunk()->set_boundary(boundary && sent + n == pending_.size());
      if (!stream_->Write(response)) return absl::CancelledError("the client stopped reading");
      offset_ += static_cast<int64_t>(n);
      sent += n;
    }
    pending_.erase(0, sent);
    return absl::OkStatus();
  }

  grpc::ServerReaderWriter<v1::EncodeResponse, v1::EncodeRequest>* const stream_;
  const size_t chunk_bytes_;
  std::string pending_;
  int64_t offset_ = 0;
};

}  // namespace

grpc::Status EncoderServiceImpl::Encode(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::EncodeResponse, v1::EncodeRequest>* stream) {
  const int active = active_.fetch_add(1) + 1;
  absl::Cleanup release = [this] { active_.fetch_sub(1); };
  if (active > options_.max_streams) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("the encoder runs ", options_.max_streams,
                                     " streams already (--max_streams); retry later"));
  }
  v1::EncodeRequest request;
  if (!stream->Read(&request)) {
    return context->IsCancelled()
               ? grpc::Status::CANCELLED
               : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "empty stream: the first message must carry the spec");
  }
  if (!request.has_spec()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message must carry the spec, not frames");
  }
  const VideoSpec spec = SpecFromProto(request.spec());
  EncoderOptions encoder_options = EncoderOptionsFromProto(request.spec());
  encoder_options.threads = options_.codec_threads;
  ChunkWriter writer(stream, options_.chunk_bytes);
  absl::StatusOr<std::unique_ptr<MediaEncoder>> encoder = NewMediaEncoderToStream(
      spec, [&writer](const uint8_t* data, size_t size) { return writer.Append(data, size); },
      encoder_options);
  if (!encoder.ok()) return ToGrpcStatus(encoder.status());

  while (stream->Read(&request)) {
    if (!request.has_frames()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a second spec arrived; after the first message only frames may follow");
    }
    const v1::FrameData& frames = request.frames();
    const FrameView view{frames.first_frame(),
                         frames.count(),
                         spec.width,
                         spec.height,
                         reinterpret_cast<const uint8_t*>(frames.rgb().data()),
                         static_cast<int64_t>(frames.rgb().size())};
    if (absl::Status status = (*encoder)->Write(view); !status.ok()) {
      return ToGrpcStatus(status);
    }
    if (absl::Status status = writer.Flush(); !status.ok()) return ToGrpcStatus(status);
  }
  // Read() also ends when the client cancels; only a half-close means "that was every frame".
  if (context->IsCancelled()) return grpc::Status::CANCELLED;
  const absl::StatusOr<EncodeSummary> summary = (*encoder)->Finish();
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  return ToGrpcStatus(writer.Finish(*summary));
}

EncoderServer::~EncoderServer() {
  if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

absl::StatusOr<std::unique_ptr<EncoderServer>> StartEncoderServer(
    const EncoderServerOptions& options) {
  if (options.service.max_streams < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_streams must be at least 1, got ", options.service.max_streams));
  }
  auto running = std::make_unique<EncoderServer>();
  running->service = std::make_unique<EncoderServiceImpl>(options.service);
  // grpc.health.v1 for Kubernetes' probes (deploy/encoder.yaml): SERVING as soon as it listens.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &running->port);
  builder.RegisterService(running->service.get());
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(options.max_message_bytes, INT32_MAX)));
  running->server = builder.BuildAndStart();
  if (!running->server || running->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on '", options.listen, "'"));
  }
  if (grpc::HealthCheckServiceInterface* health = running->server->GetHealthCheckService()) {
    health->SetServingStatus("reel.v1.EncoderService", true);
  }
  return running;
}

}  // namespace reel
