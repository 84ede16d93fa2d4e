#pragma once
// Test helpers for media output: synthetic frames, and the real ffprobe/ffmpeg CLI (Debian's
// /usr/bin builds, independent of the libav* calls under test) as the decoding oracle.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/frames/frame_sink.h"

namespace reel::testing {

// `count` RGB24 frames starting at frame `first`: a smooth moving colour gradient with an
// anti-aliased red disc moving right (smooth areas plus one edge, like rendered content).
std::vector<uint8_t> SyntheticFrames(int width, int height, int64_t first, int64_t count);
FrameBlock SyntheticBlock(int width, int height, int64_t first, int count);

// A path under the test temp dir that does not exist yet; unique per call.
std::string TempPath(const std::string& name);

// Runs `command` through /bin/sh and returns its stdout; an error if it exits non-zero.
absl::StatusOr<std::string> RunCommand(const std::string& command);

struct ProbeResult {
  std::string format_name;  // e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec_name;   // e.g. "h264"
  std::string pix_fmt;
  int width = 0;
  int height = 0;
  int64_t frames = 0;                       // frames actually decoded (ffprobe -count_frames)
  double duration_s = 0;                    // the stream's duration, else the container's
  std::map<std::string, std::string> tags;  // container tags, keys lower-cased
};
// ffprobe on the first video stream of `path`.
absl::StatusOr<ProbeResult> Probe(const std::string& path);

// Every frame of `path` decoded by the ffmpeg CLI to packed RGB24.
absl::StatusOr<std::vector<uint8_t>> DecodeRgb(const std::string& path);

// Mean |a - b| over all channels of `frames` frames, in 0..255 units. `decoded` may be larger than
// the reference (a padded coded size); only its top-left width x height corner is compared.
double MeanAbsError(const std::vector<uint8_t>& decoded, int decoded_width, int decoded_height,
                    const std::vector<uint8_t>& expected, int width, int height, int64_t frames);

// Deletes a test output unless REEL_KEEP_TEST_MEDIA is set (then it stays, for a look).
void RemoveTestFile(const std::string& path);

// The whole file as bytes ("" if it cannot be read).
std::string ReadFile(const std::string& path);

}  // namespace reel::testing
