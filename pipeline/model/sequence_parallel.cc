#include "pipeline/model/sequence_parallel.h"

#include <algorithm>
#include <vector>

#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<HaloRows> WithHaloRows(const Tensor& img, const ParallelContext& parallel) {
  const int world = parallel.world_size(), rank = parallel.rank();
  if (world == 1) return HaloRows{img, 0};
  const int64_t images = img.dim(0), rows = img.dim(1), width = img.dim(2), ch = img.dim(3);
  const bool above = rank > 0, below = rank + 1 < world;
  REEL_ASSIGN_OR_RETURN(Tensor first, img.Slice(1, 0, 1)->Contiguous());
  REEL_ASSIGN_OR_RETURN(Tensor last, img.Slice(1, rows - 1, rows)->Contiguous());
  REEL_ASSIGN_OR_RETURN(Tensor halo_above, Tensor::Empty({images, 1, width, ch}));
  REEL_ASSIGN_OR_RETURN(Tensor halo_below, Tensor::Empty({images, 1, width, ch}));
  std::vector<SendTo> sends;
  std::vector<RecvFrom> recvs;
  if (above) {
    sends.push_back({rank - 1, &first});
    recvs.push_back({rank - 1, &halo_above});
  }
  if (below) {
    sends.push_back({rank + 1, &last});
    recvs.push_back({rank + 1, &halo_below});
  }
  REEL_RETURN_IF_ERROR(parallel.communicator().Exchange(sends, recvs));
  std::vector<Tensor> parts;
  if (above) parts.push_back(halo_above);
  parts.push_back(img);
  if (below) parts.push_back(halo_below);
  REEL_ASSIGN_OR_RETURN(Tensor padded, ops::Concat(parts, 1));
  return HaloRows{std::move(padded), above ? 1 : 0};
}

// The whole frames' (frames, H·W, D) tensor from every rank's band (frames, rows·W, D): ranks
// hold consecutive bands, so gathering row-major (rows, frames, W·D) parts concatenates them.
absl::StatusOr<Tensor> GatherRows(const Tensor& band_tensor, const RowBand& band, int64_t width,
                                  const ParallelContext& parallel) {
  const int world = parallel.world_size();
  const int64_t frames = band_tensor.dim(0), dim = band_tensor.dim(2), rows = band.rows();
  REEL_ASSIGN_OR_RETURN(Tensor v, band_tensor.Reshape({frames, rows, width * dim}));
  REEL_ASSIGN_OR_RETURN(Tensor local, v.Permute({1, 0, 2})->Contiguous());
  std::vector<int64_t> counts;
  for (int r = 0; r < world; ++r) {
    counts.push_back(BandOf(band.height, r, world).rows() * frames * width * dim);
  }
  REEL_ASSIGN_OR_RETURN(Tensor all, Tensor::Empty({band.height, frames, width * dim}));
  REEL_RETURN_IF_ERROR(parallel.communicator().AllGather(local, counts, all));
  REEL_ASSIGN_OR_RETURN(Tensor whole, all.Permute({1, 0, 2})->Contiguous());
  return whole.Reshape({frames, band.height * width, dim});
}

absl::StatusOr<RopeTables> BandRope(const RopeTables& tables, int64_t frames, const RowBand& band,
                                    int64_t width) {
  if (band.whole()) return tables;
  RopeTables out;
  for (const auto& [src, dst] : {std::pair{&tables.cos, &out.cos}, {&tables.sin, &out.sin}}) {
    const int64_t half = src->dim(1);
    REEL_ASSIGN_OR_RETURN(Tensor per_frame, src->Reshape({frames, band.height * width, half}));
    REEL_ASSIGN_OR_RETURN(Tensor rows,
                          per_frame.Slice(1, band.begin * width, band.end * width)->Contiguous());
    REEL_ASSIGN_OR_RETURN(*dst, rows.Reshape({frames * band.rows() * width, half}));
  }
  return out;
}

absl::StatusOr<ScannedHistory> ScanConvHistory(const Tensor& y, const Tensor& tail,
                                               const ParallelContext& parallel) {
  const int world = parallel.world_size(), rank = parallel.rank();
  const int64_t frames = y.dim(0), spatial = y.dim(1), dim = y.dim(2);
  const int64_t keep = std::min<int64_t>(2, frames);
  REEL_ASSIGN_OR_RETURN(Tensor mine, y.Slice(0, frames - keep, frames)->Clone());
  REEL_ASSIGN_OR_RETURN(Tensor all, Tensor::Empty({world * keep, spatial, dim}));
  const std::vector<int64_t> counts(world, keep * spatial * dim);
  REEL_RETURN_IF_ERROR(parallel.communicator().AllGather(mine, counts, all));
  auto last_two = [&](int ranks) -> absl::StatusOr<Tensor> {
    if (ranks == 0) return tail.Clone();
    REEL_ASSIGN_OR_RETURN(Tensor before, all.Slice(0, 0, ranks * keep));
    REEL_ASSIGN_OR_RETURN(Tensor joined, ops::Concat({tail, before}, 0));
    const int64_t n = joined.dim(0);
    return joined.Slice(0, n - 2, n)->Clone();
  };
  ScannedHistory out;
  REEL_ASSIGN_OR_RETURN(out.history, last_two(rank));
  REEL_ASSIGN_OR_RETURN(out.final_tail, last_two(world));
  return out;
}

}  // namespace reel
