#include "services/encoder/encoder_proto.h"

#include <string>

namespace reel {

VideoSpec SpecFromProto(const v1::EncodeSpec& proto) {
  VideoSpec spec;
  spec.width = proto.width();
  spec.height = proto.height();
  spec.fps = proto.fps();
  spec.frames = proto.expected_frames();
  spec.format = proto.format();
  spec.crf = proto.has_crf() ? proto.crf() : -1;
  spec.preset = proto.preset();
  spec.metadata.insert(proto.metadata().begin(), proto.metadata().end());
  return spec;
}

EncoderOptions EncoderOptionsFromProto(const v1::EncodeSpec& proto) {
  EncoderOptions options;
  options.bitrate_bps = proto.bitrate_bps();
  options.progressive = proto.progressive();
  return options;
}

v1::EncodeSpec SpecToProto(const VideoSpec& spec, const EncoderOptions& options) {
  v1::EncodeSpec proto;
  proto.set_width(spec.width);
  proto.set_height(spec.height);
  proto.set_fps(spec.fps);
  proto.set_expected_frames(spec.frames);
  proto.set_format(spec.format);
  if (spec.crf >= 0) proto.set_crf(spec.crf);
  proto.set_preset(spec.preset);
  proto.mutable_metadata()->insert(spec.metadata.begin(), spec.metadata.end());
  proto.set_bitrate_bps(options.bitrate_bps);
  proto.set_progressive(options.progressive);
  return proto;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace reel
