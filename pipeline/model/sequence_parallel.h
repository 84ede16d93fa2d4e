#pragma once
// The pieces of spatial sequence parallelism (ARCHITECTURE.md §4) outside linear attention's
// reduction: every rank holds a band of token rows of every frame (parallel/band.h); the depthwise
// conv needs one halo row from each neighbour, and whole frames are reassembled by gathering bands.
// With a world of 1 each function is the plain single-rank computation.
#include <cstdint>

#include "absl/status/statusor.h"
#include "pipeline/model/rope.h"
#include "pipeline/parallel/band.h"
#include "pipeline/parallel/communicator.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// img (images, rows, W, C) with the row just above and just below this rank's band added, from
// rank − 1 and rank + 1 (one row of images·W·C floats each way): what a 3×3 conv of the band needs.
// The frame's outer edges get no row (the conv's zero padding stays). A world of 1: img itself.
struct HaloRows {
  Tensor padded;    // (images, top + rows + bottom, W, C)
  int64_t top = 0;  // 1 when a row was added above
};
absl::StatusOr<HaloRows> WithHaloRows(const Tensor& img, const ParallelContext& parallel);

// (frames, height·W, D) on every rank from each rank's band (frames, band.rows()·W, D).
absl::StatusOr<Tensor> GatherRows(const Tensor& band_tensor, const RowBand& band, int64_t width,
                                  const ParallelContext& parallel);

// The rows of `tables` (frames·height·W tokens) that belong to `band` of every frame.
absl::StatusOr<RopeTables> BandRope(const RopeTables& tables, int64_t frames, const RowBand& band,
                                    int64_t width);

// Temporal parallel prefill (ParallelSplit::kBlocks): rank r holds the r-th of consecutive blocks,
// y (frames, S, D) its temporal-conv input at this layer and tail (2, S, D) the state's. The causal
// conv of rank r's block sees the last two frames of [tail, blocks of ranks < r]; the state after
// all blocks keeps the last two frames of [tail, every block]. One AllGather of ≤ 2 frames per
// rank.
struct ScannedHistory {
  Tensor history;     // (2, S, D) for this rank's block
  Tensor final_tail;  // (2, S, D) after every rank's block, the same on every rank
};
absl::StatusOr<ScannedHistory> ScanConvHistory(const Tensor& y, const Tensor& tail,
                                               const ParallelContext& parallel);

}  // namespace reel
