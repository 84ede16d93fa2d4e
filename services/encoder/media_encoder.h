#pragma once
// RGB frames in, container bytes out: the one entry point to every format reel writes. Video and
// animations go through libavcodec/libavformat (video_encoder.h), single images through OpenCV
// (image_encoder.h). Frames are encoded as they arrive; nothing holds a whole video in memory.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/frames/frame_sink.h"
#include "services/encoder/media_format.h"

namespace reel {

// Receives container bytes in order. A non-OK status stops the encoder (e.g. the client went away).
using ByteSink = std::function<absl::Status(const uint8_t* data, size_t size)>;

// Settings that are not part of VideoSpec because only the encoder side cares about them.
struct EncoderOptions {
  int64_t bitrate_bps = 0;  // > 0: average bitrate target instead of constant quality (mp4, webm)
  int threads = 0;          // codec threads; 0: the codec decides
  // mp4 and webm: a fragment (MP4 moof+mdat after an empty moov) or a cluster (WebM) per Write(),
  // with the codec set for zero delay (below), written append-only (never seeked back): each
  // Write() returns with that block's frames in the bytes written, every prefix cut at a Write()
  // boundary is a playable file, and the finished file is exactly those bytes plus a trailer (the
  // MP4 `mfra` index; WebM has no cue index). Other formats ignore it.
  bool progressive = false;
  // The codec settings of `progressive` alone: no B-frames or lookahead (x264 tune=zerolatency,
  // libvpx lag-in-frames=0), so no frame waits for later ones. Decodes pixel-identically to a
  // progressive encode of the same frames.
  bool low_delay = false;
};

struct EncodeSummary {
  int64_t bytes = 0;
  int64_t frames = 0;
  std::string mime_type;
  // The coded picture size: H.264 4:2:0 needs even sides, so an odd side is padded by one
  // edge-replicated row/column; every other format keeps the spec's size.
  int coded_width = 0;
  int coded_height = 0;
};

class MediaEncoder {
 public:
  virtual ~MediaEncoder() = default;
  MediaEncoder(const MediaEncoder&) = delete;
  MediaEncoder& operator=(const MediaEncoder&) = delete;

  // Checks the block against the spec (ValidateFrameView), then encodes it.
  absl::Status Write(const FrameView& frames);
  absl::Status Write(const FrameBlock& block) { return Write(ViewOf(block)); }
  // Flushes the codec and finalizes the container. FAILED_PRECONDITION when fewer frames arrived
  // than the spec announced (or none at all). Destroying an encoder without Finish() abandons it.
  absl::StatusOr<EncodeSummary> Finish();

  const VideoSpec& spec() const { return spec_; }
  int64_t frames_written() const { return frames_written_; }

 protected:
  explicit MediaEncoder(VideoSpec spec) : spec_(std::move(spec)) {}
  // `rgb` holds `count` validated frames.
  virtual absl::Status EncodeFrames(const uint8_t* rgb, int64_t count) = 0;
  virtual absl::StatusOr<EncodeSummary> FinishEncoding() = 0;

 private:
  VideoSpec spec_;
  int64_t frames_written_ = 0;
  bool failed_ = false;
  bool finished_ = false;
};

// Encodes into the file at `path` (created or truncated). MP4 gets +faststart (moov first), or
// with options.progressive the fragmented layout above.
absl::StatusOr<std::unique_ptr<MediaEncoder>> NewMediaEncoderToFile(const VideoSpec& spec,
                                                                    const std::string& path,
                                                                    const EncoderOptions& options);
// Encodes into `sink`, which cannot seek back: MP4 becomes fragmented MP4
// (frag_keyframe+empty_moov+default_base_moof), WebM is written without a cue index.
absl::StatusOr<std::unique_ptr<MediaEncoder>> NewMediaEncoderToStream(
    const VideoSpec& spec, ByteSink sink, const EncoderOptions& options);

}  // namespace reel
