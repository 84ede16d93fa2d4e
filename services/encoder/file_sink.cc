#include "services/encoder/file_sink.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "services/encoder/temp_file.h"

namespace reel {
namespace {

class FileEncoderSink final : public FrameSink {
 public:
  FileEncoderSink(std::string path, EncoderOptions options, bool images_only)
      : path_(std::move(path)), options_(options), images_only_(images_only) {}

  absl::Status Open(const VideoSpec& spec) override {
    if (encoder_ || temp_) return absl::FailedPreconditionError("the sink is already open");
    if (closed_) return absl::FailedPreconditionError("the sink was already closed");
    REEL_RETURN_IF_ERROR(ValidateVideoSpec(spec));
    if (images_only_ && !FindMediaFormat(spec.format)->single_image) {
      return absl::InvalidArgumentError(
          absl::StrCat("an image sink writes png, jpeg or webp-image, not '", spec.format, "'"));
    }
    if (options_.progressive) {
      REEL_ASSIGN_OR_RETURN(temp_, TempFile::CreateAt(ProgressivePartialPath(path_)));
    } else {
      REEL_ASSIGN_OR_RETURN(temp_, TempFile::CreateNextTo(path_));
    }
    auto encoder = NewMediaEncoderToFile(spec, temp_->path(), options_);
    if (!encoder.ok()) {
      temp_.reset();
      return encoder.status();
    }
    encoder_ = *std::move(encoder);
    return absl::OkStatus();
  }

  absl::Status Write(const FrameBlock& block) override {
    if (!encoder_) return absl::FailedPreconditionError("Write() on a sink that is not open");
    absl::Status status = encoder_->Write(block);
    if (!status.ok()) Abort();
    return status;
  }

  absl::StatusOr<SinkResult> Close() override {
    if (!encoder_) return absl::FailedPreconditionError("Close() on a sink that is not open");
    const absl::StatusOr<EncodeSummary> summary = encoder_->Finish();
    encoder_.reset();
    if (!summary.ok()) {
      Abort();
      return summary.status();
    }
    if (const absl::Status status = temp_->CommitAs(path_); !status.ok()) {
      Abort();
      return status;
    }
    temp_.reset();
    closed_ = true;
    return SinkResult{path_, summary->bytes, summary->frames, summary->mime_type};
  }

  void Abort() override {
    encoder_.reset();  // closes the temporary file first
    temp_.reset();     // then deletes it
  }

  ~FileEncoderSink() override { Abort(); }

 private:
  const std::string path_;
  const EncoderOptions options_;
  const bool images_only_;
  std::unique_ptr<TempFile> temp_;
  std::unique_ptr<MediaEncoder> encoder_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<FrameSink> NewFileEncoderSink(std::string path, EncoderOptions options) {
  return std::make_unique<FileEncoderSink>(std::move(path), options, false);
}

std::unique_ptr<FrameSink> NewImageFileSink(std::string path) {
  return std::make_unique<FileEncoderSink>(std::move(path), EncoderOptions{}, true);
}

}  // namespace reel
