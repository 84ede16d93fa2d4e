#pragma once
// A contact sheet: a grid of evenly spaced frames of a video in one image, each labelled with its
// frame number, so a render can be judged at a glance (people look rather than read). Frames are
// kept as small thumbnails as they stream past; memory is bounded by max_tiles.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/frames/frame_sink.h"

namespace reel {

struct ContactSheetOptions {
  int max_tiles = 16;
  // Thumbnails are scaled (nearest-neighbour up, area down) to about this width, so tiny renders
  // stay visible and large ones stay small.
  int tile_width = 192;
};

class ContactSheet {
 public:
  // `total_frames` = frames the video will have (0: unknown; then the first max_tiles are kept).
  ContactSheet(int width, int height, int64_t total_frames, ContactSheetOptions options = {});

  // Keeps thumbnails of the block's frames that the sheet shows.
  void Add(const FrameBlock& block);
  int tiles() const { return static_cast<int>(tiles_.size()); }

  // The sheet as packed RGB24 (sheet_width x sheet_height).
  std::vector<uint8_t> Compose(int* sheet_width, int* sheet_height) const;
  // Writes the sheet; the format comes from the extension (.png, .jpg, .webp). FAILED_PRECONDITION
  // when no frame was added.
  absl::Status Write(const std::string& path) const;

 private:
  bool Wanted(int64_t frame) const;

  const int width_;
  const int height_;
  const int64_t total_frames_;
  const ContactSheetOptions options_;
  int tile_width_ = 0;
  int tile_height_ = 0;
  struct Tile {
    int64_t frame;
    std::vector<uint8_t> rgb;  // tile_width_ x tile_height_ RGB24
  };
  std::vector<Tile> tiles_;
};

}  // namespace reel
