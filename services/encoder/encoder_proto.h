#pragma once
// Conversions between reel.v1 encoder messages and the media types, and between absl::Status and
// grpc::Status (their codes share numbering), used by both ends of EncoderService.
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "pipeline/frames/frame_sink.h"
#include "reel/v1/encoder.pb.h"
#include "services/encoder/media_encoder.h"

namespace reel {

VideoSpec SpecFromProto(const v1::EncodeSpec& proto);
EncoderOptions EncoderOptionsFromProto(const v1::EncodeSpec& proto);
v1::EncodeSpec SpecToProto(const VideoSpec& spec, const EncoderOptions& options);

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace reel
