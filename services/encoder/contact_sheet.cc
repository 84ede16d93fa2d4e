#include "services/encoder/contact_sheet.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "services/encoder/image_encoder.h"
#include "services/encoder/media_format.h"
#include "services/encoder/temp_file.h"

namespace reel {
namespace {

constexpr int kGap = 4;              // pixels between tiles and around the sheet
constexpr uint8_t kBackground = 32;  // dark grey
constexpr int kLabelHeight = 14;     // strip under each tile for the frame number

}  // namespace

ContactSheet::ContactSheet(int width, int height, int64_t total_frames, ContactSheetOptions options)
    : width_(width), height_(height), total_frames_(total_frames), options_(options) {
  // Integer upscaling keeps tiny renders crisp; larger frames shrink to about tile_width.
  if (width_ < options_.tile_width) {
    const int scale = std::max(1, options_.tile_width / std::max(1, width_));
    tile_width_ = width_ * scale;
    tile_height_ = height_ * scale;
  } else {
    tile_width_ = options_.tile_width;
    tile_height_ = std::max(
        1, static_cast<int>(std::lround(static_cast<double>(height_) * tile_width_ / width_)));
  }
}

bool ContactSheet::Wanted(int64_t frame) const {
  const int n = options_.max_tiles;
  if (total_frames_ <= 0 || total_frames_ <= n) return frame < n;
  // Tile i shows frame round(i * (total - 1) / (n - 1)): first and last frame always included.
  for (int i = 0; i < n; ++i) {
    if (std::llround(static_cast<double>(i) * (total_frames_ - 1) / std::max(1, n - 1)) == frame) {
      return true;
    }
  }
  return false;
}

void ContactSheet::Add(const FrameBlock& block) {
  if (block.width != width_ || block.height != height_) return;
  const size_t frame_bytes = static_cast<size_t>(width_) * height_ * 3;
  for (int i = 0; i < block.count; ++i) {
    const int64_t frame = block.first_frame + i;
    if (!Wanted(frame) || static_cast<int>(tiles_.size()) >= options_.max_tiles) continue;
    if (block.rgb.size() < (i + 1) * frame_bytes) return;
    const cv::Mat src(height_, width_, CV_8UC3,
                      const_cast<uint8_t*>(block.rgb.data()) + i * frame_bytes);
    Tile tile{frame, std::vector<uint8_t>(static_cast<size_t>(tile_width_) * tile_height_ * 3)};
    cv::Mat dst(tile_height_, tile_width_, CV_8UC3, tile.rgb.data());
    cv::resize(src, dst, dst.size(), 0, 0,
               tile_width_ >= width_ ? cv::INTER_NEAREST : cv::INTER_AREA);
    tiles_.push_back(std::move(tile));
  }
}

std::vector<uint8_t> ContactSheet::Compose(int* sheet_width, int* sheet_height) const {
  const int n = std::max(1, static_cast<int>(tiles_.size()));
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int rows = (n + cols - 1) / cols;
  const int cell_h = tile_height_ + kLabelHeight;
  *sheet_width = kGap + cols * (tile_width_ + kGap);
  *sheet_height = kGap + rows * (cell_h + kGap);
  cv::Mat sheet(*sheet_height, *sheet_width, CV_8UC3, cv::Scalar::all(kBackground));
  for (size_t t = 0; t < tiles_.size(); ++t) {
    const int x = kGap + static_cast<int>(t % cols) * (tile_width_ + kGap);
    const int y = kGap + static_cast<int>(t / cols) * (cell_h + kGap);
    const cv::Mat tile(tile_height_, tile_width_, CV_8UC3,
                       const_cast<uint8_t*>(tiles_[t].rgb.data()));
    tile.copyTo(sheet(cv::Rect(x, y, tile_width_, tile_height_)));
    cv::putText(sheet, absl::StrCat("#", tiles_[t].frame), cv::Point(x + 2, y + cell_h - 3),
                cv::FONT_HERSHEY_PLAIN, 0.9, cv::Scalar::all(220), 1, cv::LINE_AA);
  }
  return std::vector<uint8_t>(sheet.data, sheet.data + sheet.total() * 3);
}

absl::Status ContactSheet::Write(const std::string& path) const {
  if (tiles_.empty()) return absl::FailedPreconditionError("the contact sheet has no frames");
  REEL_ASSIGN_OR_RETURN(std::string format, MediaFormatForPath(path));
  if (format == "webp") format = "webp-image";
  if (!FindMediaFormat(format)->single_image) {
    return absl::InvalidArgumentError(
        absl::StrCat("a contact sheet is an image (.png, .jpg, .webp), not '", path, "'"));
  }
  int w = 0, h = 0;
  const std::vector<uint8_t> rgb = Compose(&w, &h);
  REEL_ASSIGN_OR_RETURN(std::string bytes, EncodeImage(rgb.data(), w, h, format, -1, {}));
  REEL_ASSIGN_OR_RETURN(std::unique_ptr<TempFile> temp, TempFile::CreateNextTo(path));
  std::FILE* f = std::fopen(temp->path().c_str(), "wb");
  if (f == nullptr) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !written) {
    return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  }
  return temp->CommitAs(path);
}

}  // namespace reel
