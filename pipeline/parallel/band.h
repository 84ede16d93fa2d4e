#pragma once
// Spatial sequence parallelism splits every frame's token rows into contiguous bands, one per rank
// in rank order (so a band's neighbours — whose rows the 3×3 conv's halo needs — are rank ± 1).
#include <cstdint>

namespace reel {

// Token rows [begin, end) of a frame of `height` rows.
struct RowBand {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t height = 0;
  int64_t rows() const { return end - begin; }
  bool whole() const { return begin == 0 && end == height; }
};

// Rank `rank`'s band of `height` rows over `world` ranks: sizes differ by at most one (the first
// height % world ranks take one extra row). Needs height ≥ world for every band to be non-empty.
inline RowBand BandOf(int64_t height, int rank, int world) {
  const int64_t base = height / world, extra = height % world;
  const int64_t begin = rank * base + (rank < extra ? rank : extra);
  return {begin, begin + base + (rank < extra ? 1 : 0), height};
}

}  // namespace reel
