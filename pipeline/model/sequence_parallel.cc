#include "pipeline/model/sequence_parallel.h"

#include <vector>

#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

// The depthwise 3×3 conv of img (images, rows, W, C). Under sequence parallelism img holds this
// rank's band of rows: the rows just above and below it live on rank − 1 and rank + 1, so one halo
// row is exchanged with each neighbour (images·W·C floats each way), the conv runs on the padded
// band, and the halo rows' outputs are dropped. The frame's outer edges keep the zero padding.
absl::StatusOr<Tensor> HaloDepthwiseConv3x3(const Tensor& img, const Tensor& weight,
                                            const Tensor& bias, const ParallelContext& parallel) {
  const int world = parallel.world_size(), rank = parallel.rank();
  if (world == 1) return ops::DepthwiseConv2d3x3(img, weight, &bias);
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
  REEL_ASSIGN_OR_RETURN(Tensor conv, ops::DepthwiseConv2d3x3(padded, weight, &bias));
  const int64_t top = above ? 1 : 0;
  REEL_ASSIGN_OR_RETURN(Tensor mine, conv.Slice(1, top, top + rows));
  return mine.Contiguous();
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

}  // namespace reel
