#include "tools/eval/frame_collector.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace reel::eval {

absl::Status FrameCollector::Write(const FrameBlock& block) {
  const size_t plane = static_cast<size_t>(block.width) * block.height * 3;
  if (block.first_frame != static_cast<int64_t>(frames_.size()) ||
      block.rgb.size() != plane * block.count) {
    return absl::InvalidArgumentError(absl::StrCat("block of frame ", block.first_frame,
                                                   " out of order or mis-sized after ",
                                                   frames_.size(), " frames"));
  }
  for (int f = 0; f < block.count; ++f) {
    cv::Mat m(block.height, block.width, CV_8UC3);
    std::memcpy(m.data, block.rgb.data() + f * plane, plane);
    frames_.push_back(std::move(m));
  }
  return absl::OkStatus();
}

}  // namespace reel::eval
