#pragma once
// The containers reel writes, and the checks every encoder front (file sink, gRPC service) applies
// to a VideoSpec and to each FrameBlock before a byte reaches FFmpeg or OpenCV.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pipeline/frames/frame_sink.h"

namespace reel {

struct MediaFormat {
  absl::string_view name;       // VideoSpec.format
  absl::string_view mime_type;  // e.g. "video/mp4"
  absl::string_view extension;  // e.g. ".mp4"
  bool single_image;            // png, jpeg, webp-image: exactly one frame, encoded by OpenCV
  absl::string_view muxer;      // libavformat muxer; empty for single images
  absl::string_view codec;      // libavcodec encoder; empty for single images
  int max_crf;                  // crf accepted in [0, max_crf]; 0: crf is ignored by this format
};

// nullptr when `name` is not one of the names in MediaFormatNames().
const MediaFormat* FindMediaFormat(absl::string_view name);
// "mp4, webm, gif, webp, png, jpeg, webp-image" (for error messages and --help).
std::string MediaFormatNames();

// Format named by a file extension: .mp4/.m4v, .webm, .gif, .webp (animated), .png, .jpg/.jpeg.
// INVALID_ARGUMENT for anything else.
absl::StatusOr<std::string> MediaFormatForPath(absl::string_view path);

// Largest width/height accepted, and the highest frame rate: far above anything reel renders, low
// enough that frame byte counts cannot overflow and a typo fails fast.
inline constexpr int kMaxFrameSide = 8192;
inline constexpr double kMaxFps = 240.0;
inline constexpr double kMaxGifFps = 50.0;

// INVALID_ARGUMENT with a message naming the field when the spec cannot be encoded.
absl::Status ValidateVideoSpec(const VideoSpec& spec);

// Bytes of `count` packed RGB24 frames of the spec's size.
int64_t RgbBytes(const VideoSpec& spec, int64_t count);

// A block of frames without ownership: what the encoders consume (the gRPC service hands its
// message bytes through without a copy).
struct FrameView {
  int64_t first_frame = 0;
  int64_t count = 0;
  int width = 0;
  int height = 0;
  const uint8_t* rgb = nullptr;
  int64_t bytes = 0;
};
inline FrameView ViewOf(const FrameBlock& block) {
  return {block.first_frame, block.count,      block.width,
          block.height,      block.rgb.data(), static_cast<int64_t>(block.rgb.size())};
}

// INVALID_ARGUMENT unless the block has the spec's size, the exact RGB24 byte count, starts at
// `next_frame` (blocks arrive in order, without gaps) and stays within spec.frames when that is
// known.
absl::Status ValidateFrameView(const VideoSpec& spec, const FrameView& view, int64_t next_frame);

}  // namespace reel
