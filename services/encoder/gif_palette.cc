#include "services/encoder/gif_palette.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace reel {
namespace {

int CellOf(const uint8_t* p) { return (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | (p[2] >> 3); }

}  // namespace

MedianCutQuantizer::Box MedianCutQuantizer::MakeBox(int begin, int end) const {
  Box box{begin, end, 0, {255, 255, 255}, {0, 0, 0}};
  for (int i = begin; i < end; ++i) {
    const Cell& c = cells_[i];
    box.count += c.count;
    for (int ch = 0; ch < 3; ++ch) {
      box.lo[ch] = std::min(box.lo[ch], c.mean[ch]);
      box.hi[ch] = std::max(box.hi[ch], c.mean[ch]);
    }
  }
  return box;
}

void MedianCutQuantizer::Quantize(const uint8_t* rgb, int width, int height, uint8_t* indices,
                                  int index_stride, uint32_t* palette_argb) {
  counts_.assign(kCells, 0);
  sums_.assign(size_t{3} * kCells, 0);
  const int64_t pixels = static_cast<int64_t>(width) * height;
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* p = rgb + 3 * i;
    const size_t cell = CellOf(p);
    ++counts_[cell];
    sums_[3 * cell] += p[0];
    sums_[3 * cell + 1] += p[1];
    sums_[3 * cell + 2] += p[2];
  }
  cells_.clear();
  for (size_t cell = 0; cell < kCells; ++cell) {
    if (counts_[cell] == 0) continue;
    const float n = static_cast<float>(counts_[cell]);
    cells_.push_back({static_cast<uint16_t>(cell),
                      counts_[cell],
                      {sums_[3 * cell] / n, sums_[3 * cell + 1] / n, sums_[3 * cell + 2] / n}});
  }

  // Split the box whose pixels are spread the most (count x longest side) at the weighted median of
  // its longest side, until there are as many boxes as palette entries or nothing left to split.
  std::vector<Box> boxes = {MakeBox(0, static_cast<int>(cells_.size()))};
  while (static_cast<int>(boxes.size()) < kPaletteSize) {
    int best = -1;
    double best_score = 0;
    int best_axis = 0;
    for (int b = 0; b < static_cast<int>(boxes.size()); ++b) {
      const Box& box = boxes[b];
      if (box.end - box.begin < 2) continue;
      int axis = 0;
      for (int ch = 1; ch < 3; ++ch) {
        if (box.hi[ch] - box.lo[ch] > box.hi[axis] - box.lo[axis]) axis = ch;
      }
      const double score = static_cast<double>(box.count) * (box.hi[axis] - box.lo[axis]);
      if (score > best_score) {
        best = b;
        best_score = score;
        best_axis = axis;
      }
    }
    if (best < 0) break;
    const Box box = boxes[best];
    std::sort(
        cells_.begin() + box.begin, cells_.begin() + box.end,
        [axis = best_axis](const Cell& a, const Cell& b) { return a.mean[axis] < b.mean[axis]; });
    uint64_t below = 0;
    int split = box.begin + 1;
    for (int i = box.begin; i < box.end - 1; ++i) {
      below += cells_[i].count;
      split = i + 1;
      if (2 * below >= box.count) break;
    }
    boxes[best] = MakeBox(box.begin, split);
    boxes.push_back(MakeBox(split, box.end));
  }

  // Palette entry = mean of the pixels in its box; each cell then maps to its nearest entry (which
  // is usually, but not always, the entry of its own box).
  float palette[kPaletteSize][3] = {};
  for (int b = 0; b < kPaletteSize; ++b) palette_argb[b] = 0xFF000000u;
  for (int b = 0; b < static_cast<int>(boxes.size()); ++b) {
    if (boxes[b].count == 0) continue;  // only when the picture has no pixels at all
    double sum[3] = {0, 0, 0};
    for (int i = boxes[b].begin; i < boxes[b].end; ++i) {
      for (int ch = 0; ch < 3; ++ch)
        sum[ch] += static_cast<double>(cells_[i].mean[ch]) * cells_[i].count;
    }
    uint32_t argb = 0xFF000000u;
    for (int ch = 0; ch < 3; ++ch) {
      const int v = std::clamp(static_cast<int>(std::lround(sum[ch] / boxes[b].count)), 0, 255);
      palette[b][ch] = static_cast<float>(v);
      argb |= static_cast<uint32_t>(v) << (16 - 8 * ch);
    }
    palette_argb[b] = argb;
  }
  cell_to_index_.assign(kCells, 0);
  for (const Cell& c : cells_) {
    float best_d = std::numeric_limits<float>::max();
    int best = 0;
    for (int b = 0; b < static_cast<int>(boxes.size()); ++b) {
      float d = 0;
      for (int ch = 0; ch < 3; ++ch) {
        const float diff = c.mean[ch] - palette[b][ch];
        d += diff * diff;
      }
      if (d < best_d) {
        best_d = d;
        best = b;
      }
    }
    cell_to_index_[c.index] = static_cast<uint8_t>(best);
  }
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = rgb + static_cast<int64_t>(y) * width * 3;
    uint8_t* out = indices + static_cast<int64_t>(y) * index_stride;
    for (int x = 0; x < width; ++x)
      out[x] = cell_to_index_[CellOf(row + 3 * static_cast<ptrdiff_t>(x))];
  }
}

}  // namespace reel
