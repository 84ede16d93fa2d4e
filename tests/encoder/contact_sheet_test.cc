// Contact sheet: which frames it shows, its geometry, and that each tile holds its frame, checked
// by decoding the written PNG with the ffmpeg CLI.
#include "services/encoder/contact_sheet.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/encoder/media_test_util.h"

namespace reel {
namespace {

using ::reel::testing::DecodeRgb;
using ::reel::testing::Probe;
using ::reel::testing::RemoveTestFile;
using ::reel::testing::SyntheticBlock;
using ::reel::testing::SyntheticFrames;
using ::reel::testing::TempPath;

// Mean |a - b| between a tile of the sheet and a reference picture of the same size.
double TileError(const std::vector<uint8_t>& sheet, int sheet_width, int x0, int y0,
                 const std::vector<uint8_t>& tile, int w, int h) {
  double sum = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w * 3; ++x) {
      sum += std::abs(int{sheet[(static_cast<size_t>(y0 + y) * sheet_width + x0) * 3 + x]} -
                      int{tile[(static_cast<size_t>(y) * w) * 3 + x]});
    }
  }
  return sum / (w * h * 3.0);
}

TEST(ContactSheet, ShowsEvenlySpacedFramesIncludingFirstAndLast) {
  // 40 frames, 16 tiles: frame round(i * 39 / 15).
  ContactSheet sheet(48, 32, 40);
  for (int first = 0; first < 40; first += 8) sheet.Add(SyntheticBlock(48, 32, first, 8));
  EXPECT_EQ(sheet.tiles(), 16);
  int w = 0, h = 0;
  const std::vector<uint8_t> rgb = sheet.Compose(&w, &h);
  // 48x32 frames scale up 4x (192 px); 4x4 grid with 4 px gaps and a 14 px label strip per tile.
  EXPECT_EQ(w, 4 + 4 * (192 + 4));
  EXPECT_EQ(h, 4 + 4 * (128 + 14 + 4));
  // Tile 0 is frame 0 and tile 15 (bottom right) frame 39, each a 4x nearest-neighbour upscale.
  auto upscaled = [](int64_t frame) {
    const std::vector<uint8_t> f = SyntheticFrames(48, 32, frame, 1);
    std::vector<uint8_t> up(size_t{192} * 128 * 3);
    for (int y = 0; y < 128; ++y) {
      for (int x = 0; x < 192; ++x) {
        for (int c = 0; c < 3; ++c) up[(y * 192 + x) * 3 + c] = f[((y / 4) * 48 + x / 4) * 3 + c];
      }
    }
    return up;
  };
  EXPECT_EQ(TileError(rgb, w, 4, 4, upscaled(0), 192, 128), 0.0);
  const int x15 = 4 + 3 * 196, y15 = 4 + 3 * 146;
  EXPECT_EQ(TileError(rgb, w, x15, y15, upscaled(39), 192, 128), 0.0);
  EXPECT_GT(TileError(rgb, w, x15, y15, upscaled(38), 192, 128), 1.0) << "a different frame";
}

TEST(ContactSheet, LargeFramesShrinkAndThePngDecodes) {
  ContactSheet sheet(400, 300, 3);
  sheet.Add(SyntheticBlock(400, 300, 0, 3));
  EXPECT_EQ(sheet.tiles(), 3);
  const std::string path = TempPath("sheet.png");
  ASSERT_TRUE(sheet.Write(path).ok());
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, "png");
  EXPECT_EQ(probe->width, 4 + 2 * (192 + 4));  // 2x2 grid for 3 tiles, 192 px wide tiles
  EXPECT_EQ(probe->height, 4 + 2 * (144 + 14 + 4));
  EXPECT_TRUE(DecodeRgb(path).ok());
  RemoveTestFile(path);
}

TEST(ContactSheet, UnknownLengthKeepsTheFirstTilesAndEmptyFails) {
  ContactSheet empty(16, 16, 0);
  EXPECT_EQ(empty.Write(TempPath("empty.png")).code(), absl::StatusCode::kFailedPrecondition);
  ContactSheetOptions options;
  options.max_tiles = 4;
  ContactSheet sheet(16, 16, 0, options);
  sheet.Add(SyntheticBlock(16, 16, 0, 10));
  EXPECT_EQ(sheet.tiles(), 4);
  EXPECT_EQ(sheet.Write(TempPath("sheet.mp4")).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reel
