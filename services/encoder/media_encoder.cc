#include "services/encoder/media_encoder.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "services/encoder/image_encoder.h"
#include "services/encoder/video_encoder.h"

namespace reel {

absl::Status MediaEncoder::Write(const FrameView& frames) {
  if (finished_ || failed_) {
    return absl::FailedPreconditionError(finished_ ? "the encoder was already finished"
                                                   : "the encoder failed earlier");
  }
  REEL_RETURN_IF_ERROR(ValidateFrameView(spec_, frames, frames_written_));
  absl::Status status = EncodeFrames(frames.rgb, frames.count);
  if (!status.ok()) {
    failed_ = true;
    return status;
  }
  frames_written_ += frames.count;
  return absl::OkStatus();
}

absl::StatusOr<EncodeSummary> MediaEncoder::Finish() {
  if (finished_ || failed_) {
    return absl::FailedPreconditionError(finished_ ? "the encoder was already finished"
                                                   : "the encoder failed earlier");
  }
  finished_ = true;
  if (frames_written_ == 0) {
    return absl::FailedPreconditionError("no frame was written; nothing to encode");
  }
  if (spec_.frames > 0 && frames_written_ != spec_.frames) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the spec announced ", spec_.frames, " frames, but only ", frames_written_, " arrived"));
  }
  return FinishEncoding();
}

namespace {

absl::StatusOr<std::unique_ptr<MediaEncoder>> NewMediaEncoder(const VideoSpec& spec,
                                                              const std::string& path,
                                                              ByteSink sink,
                                                              const EncoderOptions& options) {
  REEL_RETURN_IF_ERROR(ValidateVideoSpec(spec));
  if (FindMediaFormat(spec.format)->single_image) {
    return NewImageEncoder(spec, path, std::move(sink));
  }
  return NewVideoEncoder(spec, path, std::move(sink), options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MediaEncoder>> NewMediaEncoderToFile(const VideoSpec& spec,
                                                                    const std::string& path,
                                                                    const EncoderOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("empty output path");
  return NewMediaEncoder(spec, path, nullptr, options);
}

absl::StatusOr<std::unique_ptr<MediaEncoder>> NewMediaEncoderToStream(
    const VideoSpec& spec, ByteSink sink, const EncoderOptions& options) {
  if (!sink) return absl::InvalidArgumentError("no byte sink to stream into");
  return NewMediaEncoder(spec, "", std::move(sink), options);
}

}  // namespace reel
