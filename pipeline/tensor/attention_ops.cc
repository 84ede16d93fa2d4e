// Tensor-level flash and sparse-linear attention (ops.h): argument checks, then kernels/cpu.
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/sparse_attention.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/ops_internal.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::ops {
namespace cpu = kernels::cpu;
using internal::Dense;
using internal::OptionalVector;
using internal::PtrOrNull;
using internal::ShapeError;

namespace {

// q, k, v dense and shaped (nq, heads*d), (nk, heads*d), (nk, heads*d).
struct AttentionInputs {
  Tensor q, k, v;
  int64_t nq = 0, nk = 0, heads = 0, d = 0;
};

absl::StatusOr<AttentionInputs> CheckInputs(const char* op, const Tensor& q, const Tensor& k,
                                            const Tensor& v, int64_t heads,
                                            const AttentionBlocks& blocks) {
  AttentionInputs in;
  REEL_ASSIGN_OR_RETURN(in.q, Dense(q, op, "q"));
  REEL_ASSIGN_OR_RETURN(in.k, Dense(k, op, "k"));
  REEL_ASSIGN_OR_RETURN(in.v, Dense(v, op, "v"));
  if (in.q.rank() != 2 || in.k.rank() != 2 || in.k.shape() != in.v.shape() ||
      in.q.dim(1) != in.k.dim(1) || heads <= 0 || in.q.dim(1) % heads != 0 || in.q.dim(1) == 0) {
    return ShapeError(op, absl::StrCat("q ", ShapeString(q.shape()), " k ", ShapeString(k.shape()),
                                       " v ", ShapeString(v.shape()), " heads ", heads,
                                       " (expected q (nq, heads*d), k and v (nk, heads*d))"));
  }
  if (blocks.block_tokens < 0 || blocks.window < 0 || blocks.q_first_block < 0 ||
      blocks.k_first_block < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": attention blocks must be >= 0 (block_tokens ", blocks.block_tokens,
                     ", window ", blocks.window, ", q_first_block ", blocks.q_first_block,
                     ", k_first_block ", blocks.k_first_block, ")"));
  }
  in.nq = in.q.dim(0);
  in.nk = in.k.dim(0);
  in.heads = heads;
  in.d = in.q.dim(1) / heads;
  return in;
}

absl::Status CheckOptions(const char* op, const SparseAttentionOptions& options) {
  if (!(options.topk >= 0.0f) || !std::isfinite(options.topk) || options.tile_q <= 0 ||
      options.tile_k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": topk ", options.topk, " tile_q ",
                                                   options.tile_q, " tile_k ", options.tile_k,
                                                   " (expected a finite topk >= 0 and tiles > 0)"));
  }
  return absl::OkStatus();
}

TileMap BuildMap(const AttentionInputs& in, const AttentionBlocks& blocks,
                 const SparseAttentionOptions& options, bool at_least_one) {
  TileMap map;
  map.heads = in.heads;
  map.q_tiles = cpu::TileCount(in.nq, options.tile_q);
  map.k_tiles = cpu::TileCount(in.nk, options.tile_k);
  map.classes.resize(map.heads * map.q_tiles * map.k_tiles);
  cpu::SparseTileMap(in.q.data<float>(), in.k.data<float>(), in.nq, in.nk, in.heads, in.d, blocks,
                     options, at_least_one, map.classes.data());
  return map;
}

void CountTiles(const TileMap& map, SparseAttentionStats* stats) {
  if (stats == nullptr) return;
  *stats = SparseAttentionStats();
  for (const uint8_t c : map.classes) {
    stats->tiles_computed += c == cpu::kTileCritical;
    stats->tiles_allowed += c != cpu::kTileMasked;
  }
}

// The sparse branch into a fresh output; `linear` adds SLA-1's linear branch.
absl::StatusOr<Tensor> Sparse(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                              int64_t heads, float scale, const AttentionBlocks& blocks,
                              const SparseAttentionOptions& options, bool linear,
                              SparseAttentionStats* stats, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(AttentionInputs in, CheckInputs(op, q, k, v, heads, blocks));
  REEL_RETURN_IF_ERROR(CheckOptions(op, options));
  const TileMap map = BuildMap(in, blocks, options, !linear || options.topk > 0.0f);
  CountTiles(map, stats);
  REEL_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(in.q.shape(), DType::kF32, alloc));
  const float *qp = in.q.data<float>(), *kp = in.k.data<float>(), *vp = in.v.data<float>();
  if (in.nk == 0) {
    std::memset(y.data<float>(), 0, y.bytes());
    return y;
  }
  cpu::BlockSparseAttention(qp, kp, vp, map.classes.data(), in.nq, in.nk, heads, in.d, scale,
                            blocks, options.tile_q, options.tile_k, y.data<float>());
  if (linear) {
    cpu::SparseLinearBranchAdd(qp, kp, vp, map.classes.data(), in.nq, in.nk, heads, in.d, blocks,
                               options.tile_q, options.tile_k, y.data<float>());
  }
  return y;
}

}  // namespace

absl::StatusOr<Tensor> FlashAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                      const Tensor* key_mask, int64_t heads, float scale,
                                      const AttentionBlocks& blocks, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(AttentionInputs in, CheckInputs("FlashAttention", q, k, v, heads, blocks));
  REEL_ASSIGN_OR_RETURN(Tensor m, OptionalVector(key_mask, in.nk, "FlashAttention", "key_mask"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(in.q.shape(), DType::kF32, alloc));
  cpu::FlashAttention(in.q.data<float>(), in.k.data<float>(), in.v.data<float>(),
                      PtrOrNull(key_mask, m), in.nq, in.nk, heads, in.d, scale, blocks,
                      cpu::kFlashTileQ, cpu::kFlashTileK, y.data<float>());
  return y;
}

absl::StatusOr<Tensor> BlockSparseAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                            int64_t heads, float scale,
                                            const AttentionBlocks& blocks,
                                            const SparseAttentionOptions& options,
                                            SparseAttentionStats* stats, Allocator* alloc) {
  return Sparse("BlockSparseAttention", q, k, v, heads, scale, blocks, options, false, stats,
                alloc);
}

absl::StatusOr<Tensor> SparseLinearAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             int64_t heads, float scale,
                                             const AttentionBlocks& blocks,
                                             const SparseAttentionOptions& options,
                                             SparseAttentionStats* stats, Allocator* alloc) {
  return Sparse("SparseLinearAttention", q, k, v, heads, scale, blocks, options, true, stats,
                alloc);
}

absl::StatusOr<TileMap> SparseTileMap(const Tensor& q, const Tensor& k, int64_t heads,
                                      const AttentionBlocks& blocks,
                                      const SparseAttentionOptions& options, bool at_least_one) {
  REEL_ASSIGN_OR_RETURN(AttentionInputs in, CheckInputs("SparseTileMap", q, k, k, heads, blocks));
  REEL_RETURN_IF_ERROR(CheckOptions("SparseTileMap", options));
  return BuildMap(in, blocks, options, at_least_one);
}

}  // namespace reel::ops
