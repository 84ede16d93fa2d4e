#pragma once
// Median-cut colour quantization (Heckbert, "Color image quantization for frame buffer display",
// 1982) for GIF frames: FFmpeg's GIF encoder takes 8-bit palettized pictures, and swscale's only
// palette output (rgb8, a fixed 3-3-2 palette) loses far too much of a smooth gradient. Each frame
// gets its own 256-colour palette; the GIF encoder stores it as a local colour table when it
// differs from the first frame's.
#include <cstdint>
#include <vector>

namespace reel {

class MedianCutQuantizer {
 public:
  static constexpr int kPaletteSize = 256;

  // Maps `width` x `height` packed RGB24 pixels to palette indices (rows of `index_stride` bytes)
  // and writes the palette as 0xAARRGGBB words, the layout of AV_PIX_FMT_PAL8's data[1]. Unused
  // entries are opaque black.
  void Quantize(const uint8_t* rgb, int width, int height, uint8_t* indices, int index_stride,
                uint32_t* palette_argb);

 private:
  // Pixels are histogrammed on a 5-bit-per-channel grid (32768 cells); each cell remembers the
  // exact sum of its pixels so palette entries are true means, not cell centres.
  static constexpr int kCells = 1 << 15;
  struct Cell {
    uint16_t index;
    uint32_t count;
    float mean[3];
  };
  struct Box {
    int begin, end;  // range in cells_
    uint64_t count;
    float lo[3], hi[3];
  };
  Box MakeBox(int begin, int end) const;

  std::vector<uint32_t> counts_;
  std::vector<uint64_t> sums_;  // 3 per cell
  std::vector<Cell> cells_;
  std::vector<uint8_t> cell_to_index_;
};

}  // namespace reel
