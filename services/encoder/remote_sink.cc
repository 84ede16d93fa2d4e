#include "services/encoder/remote_sink.h"

#include <grpcpp/client_context.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "reel/v1/encoder.grpc.pb.h"
#include "services/encoder/encoder_proto.h"
#include "services/encoder/temp_file.h"

namespace reel {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class RemoteEncoderSink final : public FrameSink {
 public:
  RemoteEncoderSink(const std::shared_ptr<grpc::Channel>& channel, std::string path,
                    RemoteSinkOptions options)
      : stub_(v1::EncoderService::NewStub(channel)), path_(std::move(path)), options_(options) {}

  ~RemoteEncoderSink() override { Abort(); }

  absl::Status Open(const VideoSpec& spec) override {
    if (stream_ || closed_) return absl::FailedPreconditionError("the sink was already opened");
    REEL_RETURN_IF_ERROR(ValidateVideoSpec(spec));  // fail before a round trip
    if (options_.encoder.progressive) {
      REEL_ASSIGN_OR_RETURN(temp_, TempFile::CreateAt(ProgressivePartialPath(path_)));
    } else {
      REEL_ASSIGN_OR_RETURN(temp_, TempFile::CreateNextTo(path_));
    }
    file_.reset(std::fopen(temp_->path().c_str(), "wb"));
    if (!file_) {
      temp_.reset();
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open '", path_, "' for writing: ", std::strerror(errno)));
    }
    spec_ = spec;
    context_ = std::make_unique<grpc::ClientContext>();
    stream_ = stub_->Encode(context_.get());
    // Responses are read on their own thread from the start: the server blocks writing chunks
    // until they are read, so reading only after sending every frame could deadlock.
    reader_ = std::thread([this] { ReadResponses(); });
    v1::EncodeRequest request;
    *request.mutable_spec() = SpecToProto(spec, options_.encoder);
    if (!stream_->Write(request)) return FailStream();
    return absl::OkStatus();
  }

  absl::Status Write(const FrameBlock& block) override {
    if (!stream_) return absl::FailedPreconditionError("Write() on a sink that is not open");
    absl::Status local = ValidateFrameView(spec_, ViewOf(block), frames_sent_);
    if (!local.ok()) {
      Abort();
      return local;
    }
    const int64_t frame_bytes = RgbBytes(spec_, 1);
    const int64_t per_message = std::max<int64_t>(1, options_.max_message_bytes / frame_bytes);
    for (int64_t done = 0; done < block.count;) {
      const int64_t count = std::min<int64_t>(per_message, block.count - done);
      v1::EncodeRequest request;
      v1::FrameData* frames = request.mutable_frames();
      frames->set_first_frame(block.first_frame + done);
      frames->set_count(static_cast<int32_t>(count));
      frames->set_rgb(block.rgb.data() + done * frame_bytes, count * frame_bytes);
      if (!stream_->Write(request)) return FailStream();
      done += count;
    }
    frames_sent_ += block.count;
    return absl::OkStatus();
  }

  absl::StatusOr<SinkResult> Close() override {
    if (!stream_) return absl::FailedPreconditionError("Close() on a sink that is not open");
    stream_->WritesDone();
    reader_.join();
    const absl::Status status = FromGrpcStatus(stream_->Finish());
    stream_.reset();
    absl::Status result = !status.ok() ? status : reader_status_;
    if (result.ok() && !summary_) {
      result = absl::InternalError("the encoder service ended the stream without a summary");
    }
    if (result.ok() && summary_->bytes() != bytes_received_) {
      result = absl::DataLossError(absl::StrCat("the encoder service reported ", summary_->bytes(),
                                                " bytes but sent ", bytes_received_));
    }
    if (result.ok() && std::fclose(file_.release()) != 0) {
      result =
          absl::DataLossError(absl::StrCat("writing '", path_, "' failed: ", std::strerror(errno)));
    }
    if (result.ok()) result = temp_->CommitAs(path_);
    if (!result.ok()) {
      Abort();
      return result;
    }
    temp_.reset();
    closed_ = true;
    return SinkResult{path_, summary_->bytes(), summary_->frames(), summary_->mime_type()};
  }

  void Abort() override {
    if (stream_) {
      context_->TryCancel();
      reader_.join();
      stream_->Finish().IgnoreError();
      stream_.reset();
    }
    file_.reset();
    temp_.reset();
  }

 private:
  // The call broke while writing: the reason is in the call's final status.
  absl::Status FailStream() {
    stream_->WritesDone();
    reader_.join();
    absl::Status status = FromGrpcStatus(stream_->Finish());
    stream_.reset();
    if (status.ok()) status = absl::InternalError("the encoder service ended the call early");
    Abort();
    return status;
  }

  void ReadResponses() {
    v1::EncodeResponse response;
    while (stream_->Read(&response)) {
      if (!reader_status_.ok()) continue;  // drain after an error; the call is being cancelled
      if (response.has_chunk()) {
        const v1::EncodedChunk& chunk = response.chunk();
        if (chunk.offset() != bytes_received_) {
          reader_status_ =
              absl::DataLossError(absl::StrCat("the encoder service sent bytes at offset ",
                                               chunk.offset(), "; expected ", bytes_received_));
        } else {
          // Progressive: the file grows only by whole messages' bytes, so that its size is always
          // a playable prefix for whoever reads it meanwhile.
          unwritten_.append(chunk.data());
          if (!options_.encoder.progressive || chunk.boundary()) reader_status_ = WriteOut();
        }
        if (!reader_status_.ok()) {
          context_->TryCancel();
          continue;
        }
        bytes_received_ += static_cast<int64_t>(chunk.data().size());
      } else if (response.has_summary()) {
        summary_ = response.summary();
        reader_status_ = WriteOut();  // the container's trailer
      }
    }
  }

  absl::Status WriteOut() {
    if (std::fwrite(unwritten_.data(), 1, unwritten_.size(), file_.get()) != unwritten_.size() ||
        std::fflush(file_.get()) != 0) {
      return absl::DataLossError(
          absl::StrCat("writing '", temp_->path(), "' failed: ", std::strerror(errno)));
    }
    unwritten_.clear();
    return absl::OkStatus();
  }

  const std::unique_ptr<v1::EncoderService::Stub> stub_;
  const std::string path_;
  const RemoteSinkOptions options_;
  VideoSpec spec_;
  int64_t frames_sent_ = 0;
  bool closed_ = false;
  std::unique_ptr<TempFile> temp_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::EncodeRequest, v1::EncodeResponse>> stream_;
  std::thread reader_;
  // Written by the reader thread only; read after it is joined.
  absl::Status reader_status_;
  int64_t bytes_received_ = 0;
  std::string unwritten_;  // received, not yet in the file (progressive: up to a boundary)
  std::optional<v1::EncodeSummary> summary_;
};

}  // namespace

std::unique_ptr<FrameSink> NewRemoteEncoderSink(std::shared_ptr<grpc::Channel> channel,
                                                std::string path, RemoteSinkOptions options) {
  return std::make_unique<RemoteEncoderSink>(channel, std::move(path), options);
}

}  // namespace reel
