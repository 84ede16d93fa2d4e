#pragma once
// Video and animated formats (mp4/H.264, webm/VP9, gif, animated webp) through libavcodec and
// libavformat. Use NewMediaEncoderToFile / NewMediaEncoderToStream (media_encoder.h); this header
// is the part of that factory that knows FFmpeg.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/encoder/media_encoder.h"

namespace reel {

// Exactly one of `path` (a seekable file) and `sink` (a non-seekable byte stream) is set. The spec
// has passed ValidateVideoSpec and names a non-image format.
absl::StatusOr<std::unique_ptr<MediaEncoder>> NewVideoEncoder(const VideoSpec& spec,
                                                              const std::string& path,
                                                              ByteSink sink,
                                                              const EncoderOptions& options);

}  // namespace reel
