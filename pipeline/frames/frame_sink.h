#pragma once
// The seam between generation and media: the generator hands finished frames, block by block, to a
// FrameSink and never knows whether they go to a file, a gRPC encoder service, or a test.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace reel {

// What the sink will receive. width/height in pixels, frames = total frames expected (0 = unknown).
struct VideoSpec {
  int width = 0;
  int height = 0;
  double fps = 16.0;
  int64_t frames = 0;
  // Container/codec chosen by the caller: "mp4" (H.264), "webm" (VP9), "gif", "webp" (animated),
  // "png", "jpeg", "webp-image" (single images).
  std::string format = "mp4";
  int crf = -1;        // -1: the codec's sane default.
  std::string preset;  // e.g. "medium" for x264; empty: default.
  std::map<std::string, std::string>
      metadata;  // prompt, seed, model, ... written into the container.
};

// `count` frames of packed RGB24 (count * height * width * 3 bytes, row-major, no padding).
struct FrameBlock {
  int64_t first_frame = 0;  // index of the first frame of this block in the whole video
  int count = 0;
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

// What a finished sink produced.
struct SinkResult {
  std::string path;  // where it was written, if it was a file ("" for in-memory/remote)
  int64_t bytes = 0;
  int64_t frames = 0;
  std::string mime_type;  // e.g. "video/mp4", "image/png"
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual absl::Status Open(const VideoSpec& spec) = 0;
  virtual absl::Status Write(const FrameBlock& block) = 0;
  // Flushes and finalizes. After an error or Abort(), no partial output may remain.
  virtual absl::StatusOr<SinkResult> Close() = 0;
  // Stops without producing output (cancellation); removes anything partially written.
  virtual void Abort() = 0;
};

// Takes every block and keeps nothing: what the ranks other than 0 of a worker group write to
// (rank 0 decodes and writes the group's video).
class DiscardSink final : public FrameSink {
 public:
  absl::Status Open(const VideoSpec&) override { return absl::OkStatus(); }
  absl::Status Write(const FrameBlock&) override { return absl::OkStatus(); }
  absl::StatusOr<SinkResult> Close() override { return SinkResult{}; }
  void Abort() override {}
};

}  // namespace reel
