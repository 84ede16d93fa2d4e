#pragma once
// Loads videos for the evaluator as RGB CV_8UC3 frames: any container OpenCV/FFmpeg can decode, a
// folder of numbered PNG frames, or a raw rgb24 file of known frame size.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "opencv2/core.hpp"

namespace reel::eval {

// Raw rgb24, frames of width x height back to back (the file size must be a multiple of a frame).
absl::StatusOr<std::vector<cv::Mat>> ReadRawRgb(const std::string& path, int width, int height);

// A directory: its *.png files in name order. Otherwise a video file decoded by OpenCV (FFmpeg).
absl::StatusOr<std::vector<cv::Mat>> ReadVideo(const std::string& path);

// Writes RGB CV_8UC3 frames as <dir>/00000.png, 00001.png, ... (creating dir), which ReadVideo
// reads back bit for bit: renders kept for inspection and for scoring again without rendering.
absl::Status WritePngFrames(const std::vector<cv::Mat>& frames, const std::string& dir);

}  // namespace reel::eval
