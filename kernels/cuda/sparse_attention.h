#pragma once
// Tiled (flash) softmax attention and SLA's block map + block-sparse attention on the GPU: the
// contract of kernels/cpu/sparse_attention.h on device pointers (f32; heads packed in columns).
// SLA-1's linear branch has no CUDA version yet (it stays on the CPU).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cpu/sparse_attention.h"

namespace reel::kernels::cuda {

using cpu::AttentionBlocks;
using cpu::SparseAttentionOptions;

// The largest head dim the attention kernels take (4 threads per query row, d/4 values each in
// registers).
inline constexpr int64_t kMaxAttentionHeadDim = 256;
// The largest query tile: 4 threads per row in one block of at most 1024 threads.
inline constexpr int64_t kMaxAttentionTileQ = 256;

// SLA's block map into map (heads * q_tiles * k_tiles bytes of cpu::TileClass, device memory);
// same selection and tie rule as cpu::SparseTileMap (scores in f32: near-ties may resolve
// differently from the CPU's).
absl::Status SparseTileMap(const float* q, const float* k, int64_t nq, int64_t nk, int64_t heads,
                           int64_t d, const AttentionBlocks& blocks,
                           const SparseAttentionOptions& options, bool at_least_one, uint8_t* map,
                           cudaStream_t stream);

// softmax(q kT * scale) v over the keys allowed by `blocks` and key_mask (nk of 0/1 or null): one
// block per (query tile, head), online softmax over chunks of keys staged in shared memory.
absl::Status FlashAttention(const float* q, const float* k, const float* v, const float* key_mask,
                            int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                            const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k,
                            float* out, cudaStream_t stream);

// Exact softmax over the keys of the critical tiles of `map` (device, from SparseTileMap) only.
absl::Status BlockSparseAttention(const float* q, const float* k, const float* v,
                                  const uint8_t* map, int64_t nq, int64_t nk, int64_t heads,
                                  int64_t d, float scale, const AttentionBlocks& blocks,
                                  int64_t tile_q, int64_t tile_k, float* out, cudaStream_t stream);

}  // namespace reel::kernels::cuda
