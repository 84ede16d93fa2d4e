#pragma once
// A FrameSink that keeps every frame in memory as an RGB cv::Mat, in order: how the evaluator reads
// a video rendered in-process (`reel eval --suite`, the reel-tiny tests) without encoding it.
#include <vector>

#include "opencv2/core.hpp"
#include "pipeline/frames/frame_sink.h"

namespace reel::eval {

class FrameCollector final : public FrameSink {
 public:
  absl::Status Open(const VideoSpec&) override { return absl::OkStatus(); }
  // Blocks must arrive in order (first_frame = frames so far); each frame is copied out.
  absl::Status Write(const FrameBlock& block) override;
  absl::StatusOr<SinkResult> Close() override { return SinkResult{}; }
  void Abort() override {}

  const std::vector<cv::Mat>& frames() const { return frames_; }

 private:
  std::vector<cv::Mat> frames_;
};

}  // namespace reel::eval
