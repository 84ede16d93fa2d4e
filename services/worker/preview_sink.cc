#include "services/worker/preview_sink.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "opencv2/imgcodecs.hpp"
#include "opencv2/imgproc.hpp"

namespace reel::worker {

absl::StatusOr<v1::Preview> MakePreview(const FrameBlock& block, int index, int max_side) {
  if (index < 0 || index >= block.count || block.width <= 0 || block.height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("preview: no frame ", index, " in block"));
  }
  const size_t frame_bytes = static_cast<size_t>(block.width) * block.height * 3;
  if (block.rgb.size() < frame_bytes * static_cast<size_t>(block.count)) {
    return absl::InvalidArgumentError("preview: block holds fewer bytes than its frames need");
  }
  // OpenCV wants BGR; the Mat wraps the block's bytes without copying (const_cast: read only).
  const cv::Mat rgb(
      block.height, block.width, CV_8UC3,
      const_cast<uint8_t*>(block.rgb.data() + frame_bytes * static_cast<size_t>(index)));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const double scale =
      std::min(1.0, static_cast<double>(max_side) / std::max(block.width, block.height));
  if (scale < 1.0) {
    cv::Mat small;
    cv::resize(bgr, small,
               cv::Size(std::max(1, static_cast<int>(block.width * scale)),
                        std::max(1, static_cast<int>(block.height * scale))),
               0, 0, cv::INTER_AREA);
    bgr = small;
  }
  std::vector<uint8_t> png;
  if (!cv::imencode(".png", bgr, png)) return absl::InternalError("preview: PNG encoding failed");
  v1::Preview preview;
  preview.set_frame(block.first_frame + index);
  preview.set_width(bgr.cols);
  preview.set_height(bgr.rows);
  preview.set_png(png.data(), png.size());
  return preview;
}

absl::Status PreviewSink::Open(const VideoSpec& spec) { return inner_.Open(spec); }

absl::Status PreviewSink::Write(const FrameBlock& block) {
  const absl::Time start = absl::Now();
  absl::Status status = inner_.Write(block);
  encode_time_ += absl::Now() - start;
  if (!status.ok()) return status;
  frames_ += block.count;
  ++blocks_;
  if (on_block_) on_block_();
  if (on_preview_ && block.count > 0) {
    absl::StatusOr<v1::Preview> preview = MakePreview(block, block.count - 1, max_side_);
    // A preview is a courtesy: failing to make one must not fail the render.
    if (preview.ok()) {
      preview->set_block(blocks_);
      on_preview_(*std::move(preview));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SinkResult> PreviewSink::Close() {
  const absl::Time start = absl::Now();
  absl::StatusOr<SinkResult> result = inner_.Close();
  encode_time_ += absl::Now() - start;
  return result;
}

}  // namespace reel::worker
