// Tensor-level flash and sparse-linear attention (ops.h): argument checks, then kernels/cpu.
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/sparse_attention.h"
#include "pipeline/tensor/gpu_call.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/ops_internal.h"
#include "pipeline/tensor/status_macros.h"

#ifdef REEL_HAVE_CUDA
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/sparse_attention.h"
#endif

namespace reel::ops {
namespace cpu = kernels::cpu;
#ifdef REEL_HAVE_CUDA
namespace gpu = kernels::cuda;
#endif
using internal::Dense;
using internal::OptionalVector;
using internal::Output;
using internal::PtrOrNull;
using internal::SameDevice;
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
  REEL_RETURN_IF_ERROR(SameDevice(op, {&q, &k, &v}));
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

// The tile map on the CPU: built there, or built on the GPU into `device_map` (which the sparse
// kernel then reads) and copied back only when `host` asks for it (statistics, SparseTileMap).
absl::StatusOr<TileMap> BuildMap(const AttentionInputs& in, const AttentionBlocks& blocks,
                                 const SparseAttentionOptions& options, bool at_least_one,
                                 bool host, Tensor* device_map) {
  TileMap map;
  map.heads = in.heads;
  map.q_tiles = cpu::TileCount(in.nq, options.tile_q);
  map.k_tiles = cpu::TileCount(in.nk, options.tile_k);
  const int64_t cells = map.heads * map.q_tiles * map.k_tiles;
  if (!OnGpu(in.q)) {
    map.classes.resize(cells);
    cpu::SparseTileMap(in.q.data<float>(), in.k.data<float>(), in.nq, in.nk, in.heads, in.d, blocks,
                       options, at_least_one, map.classes.data());
    return map;
  }
  // One byte per tile, allocated as f32 words (the pool's granularity is larger anyway).
  REEL_ASSIGN_OR_RETURN(*device_map, Output({(cells + 3) / 4}, in.q, nullptr));
  [[maybe_unused]] auto* classes = static_cast<uint8_t*>(device_map->raw_data());
  REEL_ON_GPU(
      in.q, gpu::SparseTileMap(in.q.data<float>(), in.k.data<float>(), in.nq, in.nk, in.heads, in.d,
                               blocks, options, at_least_one, classes, ctx.stream));
  if (host) {
    map.classes.resize(cells);
    REEL_ON_GPU(in.q, gpu::CopyToHost(map.classes.data(), classes, cells, ctx.stream));
  }
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
  const float *qp = in.q.data<float>(), *kp = in.k.data<float>(), *vp = in.v.data<float>();
  if (OnGpu(in.q)) {
    if (linear) {
      return absl::UnimplementedError(absl::StrCat(
          op,
          " (SLA-1's linear branch) has no CUDA kernel; the DiT's sparse_linear kind uses "
          "FlashAttention / BlockSparseAttention plus its own linear attention"));
    }
    Tensor device_map;
    REEL_ASSIGN_OR_RETURN(const TileMap map,
                          BuildMap(in, blocks, options, true, stats != nullptr, &device_map));
    CountTiles(map, stats);
    if (in.nk == 0) return internal::ZeroedOutput(in.q.shape(), in.q, alloc);
    REEL_ASSIGN_OR_RETURN(Tensor y, Output(in.q.shape(), in.q, alloc));
    REEL_ON_GPU(
        y, gpu::BlockSparseAttention(qp, kp, vp, static_cast<const uint8_t*>(device_map.raw_data()),
                                     in.nq, in.nk, heads, in.d, scale, blocks, options.tile_q,
                                     options.tile_k, y.data<float>(), ctx.stream));
    return y;
  }
  REEL_ASSIGN_OR_RETURN(const TileMap map, BuildMap(in, blocks, options,
                                                    !linear || options.topk > 0.0f, true, nullptr));
  CountTiles(map, stats);
  if (in.nk == 0) return internal::ZeroedOutput(in.q.shape(), in.q, alloc);
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(in.q.shape(), in.q, alloc));
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
  REEL_RETURN_IF_ERROR(SameDevice("FlashAttention", {&q, key_mask}));
  REEL_ASSIGN_OR_RETURN(Tensor m, OptionalVector(key_mask, in.nk, "FlashAttention", "key_mask"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(in.q.shape(), in.q, alloc));
  if (OnGpu(in.q)) {
    // 64 x 64 tiles: the CUDA kernel's shared-memory staging is sized for them (README).
    REEL_ON_GPU(y, gpu::FlashAttention(in.q.data<float>(), in.k.data<float>(), in.v.data<float>(),
                                       PtrOrNull(key_mask, m), in.nq, in.nk, heads, in.d, scale,
                                       blocks, 64, 64, y.data<float>(), ctx.stream));
    return y;
  }
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
  Tensor device_map;
  return BuildMap(in, blocks, options, at_least_one, true, &device_map);
}

}  // namespace reel::ops
