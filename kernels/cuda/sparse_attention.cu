#include <algorithm>
#include <utility>

#include "kernels/cuda/internal.cuh"
#include "kernels/cuda/sparse_attention.h"

namespace reel::kernels::cuda {
namespace {

using cpu::CriticalTileCount;
using cpu::KeyAllowed;
using cpu::kTileCritical;
using cpu::kTileMarginal;
using cpu::kTileMasked;
using cpu::TileAllowed;
using cpu::TileCount;

constexpr int kRowThreads = 4;          // threads sharing one query row (d/4 dims each)
constexpr int64_t kMaxKeyTiles = 8192;  // the selection keeps one score per key tile in shared
constexpr int kMapThreads = 256;

// mean[h*d + c] = mean over the nk keys of k[:, h*d + c], in double (smooth-K; SageAttention).
__global__ void KeyMeanKernel(const float* k, int64_t nk, int64_t heads, int64_t d, double* mean) {
  const int64_t h = blockIdx.x, width = heads * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    double sum = 0.0;
    for (int64_t j = 0; j < nk; ++j) sum += k[j * width + h * d + c];
    mean[h * d + c] = sum / static_cast<double>(nk > 0 ? nk : 1);
  }
}

// pooled[(h * tiles + t) * d + c] = mean of rows [t*tile, min(n, (t+1)*tile)) of head h, minus
// shift[h*d + c] if given; a partial last tile divides by its true row count.
__global__ void PoolKernel(const float* x, int64_t n, int64_t heads, int64_t d, int64_t tile,
                           const double* shift, float* pooled) {
  const int64_t t = blockIdx.x, h = blockIdx.y, tiles = gridDim.x, width = heads * d;
  const int64_t r0 = t * tile, r1 = min(n, r0 + tile);
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    double sum = 0.0;
    for (int64_t r = r0; r < r1; ++r) sum += x[r * width + h * d + c];
    double mean = sum / static_cast<double>(r1 - r0);
    if (shift != nullptr) mean -= shift[h * d + c];
    pooled[(h * tiles + t) * d + c] = static_cast<float>(mean);
  }
}

// One block per (query tile, head): scores against every key tile, then the top n allowed ones by
// rank (a tile's rank = allowed tiles scoring higher, or equal with a lower index: the CPU's rule).
__global__ void SelectKernel(const float* pq, const float* pk, int64_t nq, int64_t nk, int64_t d,
                             AttentionBlocks blocks, float topk, int64_t tile_q, int64_t tile_k,
                             bool at_least_one, uint8_t* map) {
  extern __shared__ float score[];  // k_tiles scores, then k_tiles allowed flags
  const int64_t it = blockIdx.x, h = blockIdx.y, q_tiles = gridDim.x;
  const int64_t k_tiles = TileCount(nk, tile_k);
  auto* allowed = reinterpret_cast<uint8_t*>(score + k_tiles);
  __shared__ int count;
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  const float* pqr = pq + (h * q_tiles + it) * d;
  const int64_t i0 = it * tile_q, i1 = min(nq, i0 + tile_q);
  int local = 0;
  for (int64_t jt = threadIdx.x; jt < k_tiles; jt += blockDim.x) {
    const float* pkr = pk + (h * k_tiles + jt) * d;
    float s = 0.0f;
    for (int64_t c = 0; c < d; ++c) s += pqr[c] * pkr[c];
    score[jt] = s;
    allowed[jt] = TileAllowed(blocks, i0, i1, jt * tile_k, min(nk, (jt + 1) * tile_k));
    local += allowed[jt];
  }
  atomicAdd(&count, local);
  __syncthreads();
  const int64_t n = CriticalTileCount(topk, count, at_least_one);
  uint8_t* row = map + (h * q_tiles + it) * k_tiles;
  for (int64_t jt = threadIdx.x; jt < k_tiles; jt += blockDim.x) {
    if (!allowed[jt]) {
      row[jt] = kTileMasked;
      continue;
    }
    const float s = score[jt];
    int64_t rank = 0;
    for (int64_t t = 0; t < k_tiles && rank < n; ++t) {
      rank += allowed[t] && (score[t] > s || (score[t] == s && t < jt));
    }
    row[jt] = rank < n ? kTileCritical : kTileMarginal;
  }
}

// One block per (query tile, head), kRowThreads threads per query row, each holding kDims of the
// row's d dims (dim c = lane + kRowThreads * u) of q and of the output accumulator in registers.
// Keys are staged kChunk at a time in shared memory; per chunk the row's scores are formed, the
// running max/sum updated once (online softmax, f32) and the chunk's values accumulated.
// map null: every tile the block rule allows (flash); else the critical tiles of the map row.
template <int kDims, int kChunk>
__global__ void AttendKernel(const float* q, const float* k, const float* v, const float* key_mask,
                             const uint8_t* map, int64_t nq, int64_t nk, int64_t heads, int64_t d,
                             float scale, AttentionBlocks blocks, int64_t tile_q, int64_t tile_k,
                             int64_t rows_per_block, float* out) {
  extern __shared__ float staged[];  // kChunk keys (d each), then kChunk values
  float* ks = staged;
  float* vs = staged + kChunk * d;
  __shared__ uint8_t masked[kChunk];
  // A query tile may span several blocks (row groups): the tile decides which key tiles are read,
  // the group which of its rows this block computes.
  const int64_t q_tiles = TileCount(nq, tile_q), groups = gridDim.x / q_tiles;
  const int64_t it = blockIdx.x / groups, h = blockIdx.y, width = heads * d;
  const int64_t k_tiles = TileCount(nk, tile_k);
  const int64_t i0 = it * tile_q, i1 = min(nq, i0 + tile_q);
  const int64_t r0 = i0 + (blockIdx.x % groups) * rows_per_block;
  const int lane = threadIdx.x % kRowThreads;
  const int64_t i = r0 + threadIdx.x / kRowThreads;
  const bool active = i < min(i1, r0 + rows_per_block);
  float qr[kDims], acc[kDims];
#pragma unroll
  for (int u = 0; u < kDims; ++u) {
    const int64_t c = lane + kRowThreads * u;
    qr[u] = active && c < d ? q[i * width + h * d + c] : 0.0f;
    acc[u] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const uint8_t* lut = map != nullptr ? map + (h * q_tiles + it) * k_tiles : nullptr;
  for (int64_t jt = 0; jt < k_tiles; ++jt) {
    const int64_t j_end = min(nk, (jt + 1) * tile_k);
    if (lut != nullptr ? lut[jt] != kTileCritical
                       : !TileAllowed(blocks, i0, i1, jt * tile_k, j_end)) {
      continue;  // The same for the whole block: no thread diverges around the barriers below.
    }
    for (int64_t j0 = jt * tile_k; j0 < j_end; j0 += kChunk) {
      const int cc = static_cast<int>(min(static_cast<int64_t>(kChunk), j_end - j0));
      __syncthreads();  // The previous chunk is no longer read.
      for (int64_t e = threadIdx.x; e < int64_t{cc} * d; e += blockDim.x) {
        const int64_t u = e / d, c = e % d, j = j0 + u;
        const bool drop = key_mask != nullptr && key_mask[j] == 0.0f;
        ks[e] = k[j * width + h * d + c];
        // A padded value row is zeroed, not just weighted 0: 0 * NaN would reach the output.
        vs[e] = drop ? 0.0f : v[j * width + h * d + c];
        if (c == 0) masked[u] = drop;
      }
      __syncthreads();
      float s[kChunk];
      float chunk_max = -INFINITY;
#pragma unroll
      for (int u = 0; u < kChunk; ++u) {
        float dot = 0.0f;
        if (u < cc) {
#pragma unroll
          for (int t = 0; t < kDims; ++t) {
            const int64_t c = lane + kRowThreads * t;
            if (c < d) dot += qr[t] * ks[u * d + c];
          }
        }
        dot += __shfl_xor_sync(0xffffffffu, dot, 1);
        dot += __shfl_xor_sync(0xffffffffu, dot, 2);
        const bool keep = u < cc && !masked[u < cc ? u : 0] && KeyAllowed(blocks, i, j0 + u);
        s[u] = keep ? dot * scale : -INFINITY;
        chunk_max = fmaxf(chunk_max, s[u]);
      }
      const float m_new = fmaxf(m, chunk_max);
      if (m_new == -INFINITY) continue;  // No allowed key yet for this row.
      const float alpha = m == -INFINITY ? 0.0f : expf(m - m_new);
      l *= alpha;
#pragma unroll
      for (int t = 0; t < kDims; ++t) acc[t] *= alpha;
#pragma unroll
      for (int u = 0; u < kChunk; ++u) {
        if (s[u] == -INFINITY) continue;
        const float p = expf(s[u] - m_new);
        l += p;
#pragma unroll
        for (int t = 0; t < kDims; ++t) {
          const int64_t c = lane + kRowThreads * t;
          if (c < d) acc[t] += p * vs[u * d + c];
        }
      }
      m = m_new;
    }
  }
  if (!active) return;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
  for (int t = 0; t < kDims; ++t) {
    const int64_t c = lane + kRowThreads * t;
    if (c < d) out[i * width + h * d + c] = acc[t] * inv;
  }
}

template <int kDims, int kChunk>
absl::Status LaunchAttend(const float* q, const float* k, const float* v, const float* key_mask,
                          const uint8_t* map, int64_t nq, int64_t nk, int64_t heads, int64_t d,
                          float scale, const AttentionBlocks& blocks, int64_t tile_q,
                          int64_t tile_k, float* out, cudaStream_t stream) {
  // Registers bound the threads of a block: each holds 2·kDims floats of q and accumulator (an H200
  // refused 128 rows × 4 threads at d 256: cudaErrorLaunchOutOfResources). Rows beyond the bound
  // go to more blocks of the same tile.
  const int64_t max_threads = kDims >= 64 ? 128 : (kDims >= 32 ? 256 : 512);
  const int64_t rows_per_block = std::min<int64_t>(tile_q, max_threads / kRowThreads);
  const int64_t groups = (tile_q + rows_per_block - 1) / rows_per_block;
  const dim3 grid(static_cast<unsigned>(TileCount(nq, tile_q) * groups),
                  static_cast<unsigned>(heads));
  // Whole warps (the row's 4 lanes reduce with full-warp shuffles); surplus rows stay inactive.
  const auto threads = static_cast<unsigned>((rows_per_block * kRowThreads + 31) / 32 * 32);
  const size_t shared = 2 * kChunk * static_cast<size_t>(d) * sizeof(float);
  AttendKernel<kDims, kChunk><<<grid, threads, shared, stream>>>(
      q, k, v, key_mask, map, nq, nk, heads, d, scale, blocks, tile_q, tile_k, rows_per_block, out);
  return internal::LaunchStatus("Attend");
}

absl::Status Attend(const char* op, const float* q, const float* k, const float* v,
                    const float* key_mask, const uint8_t* map, int64_t nq, int64_t nk,
                    int64_t heads, int64_t d, float scale, const AttentionBlocks& blocks,
                    int64_t tile_q, int64_t tile_k, float* out, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes(op, {nq, nk, heads, d}));
  if (d > kMaxAttentionHeadDim || tile_q <= 0 || tile_q > kMaxAttentionTileQ || tile_k <= 0 ||
      heads > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": head dim ", d, " (at most ", kMaxAttentionHeadDim, "), tile_q ", tile_q,
                     " (1..", kMaxAttentionTileQ, "), tile_k ", tile_k, ", heads ", heads));
  }
  if (nq == 0 || heads == 0 || d == 0) return absl::OkStatus();
  if (nk == 0) {
    return FromCudaError(
        cudaMemsetAsync(out, 0, static_cast<size_t>(nq * heads * d) * sizeof(float), stream), op);
  }
  if (d <= 32) {
    return LaunchAttend<8, 32>(q, k, v, key_mask, map, nq, nk, heads, d, scale, blocks, tile_q,
                               tile_k, out, stream);
  }
  if (d <= 64) {
    return LaunchAttend<16, 32>(q, k, v, key_mask, map, nq, nk, heads, d, scale, blocks, tile_q,
                                tile_k, out, stream);
  }
  if (d <= 128) {
    return LaunchAttend<32, 16>(q, k, v, key_mask, map, nq, nk, heads, d, scale, blocks, tile_q,
                                tile_k, out, stream);
  }
  return LaunchAttend<64, 8>(q, k, v, key_mask, map, nq, nk, heads, d, scale, blocks, tile_q,
                             tile_k, out, stream);
}

}  // namespace

absl::Status SparseTileMap(const float* q, const float* k, int64_t nq, int64_t nk, int64_t heads,
                           int64_t d, const AttentionBlocks& blocks,
                           const SparseAttentionOptions& options, bool at_least_one, uint8_t* map,
                           cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("SparseTileMap", {nq, nk, heads, d}));
  const int64_t tq = options.tile_q, tk = options.tile_k;
  if (tq <= 0 || tk <= 0 || !(options.topk >= 0.0f) || heads > 65535 ||
      TileCount(nk, tk) > kMaxKeyTiles) {
    return absl::InvalidArgumentError(absl::StrCat("SparseTileMap: tile_q ", tq, " tile_k ", tk,
                                                   " topk ", options.topk, " heads ", heads,
                                                   " (at most ", kMaxKeyTiles, " key tiles)"));
  }
  const int64_t q_tiles = TileCount(nq, tq), k_tiles = TileCount(nk, tk);
  if (q_tiles == 0 || k_tiles == 0 || heads == 0) return absl::OkStatus();
  absl::StatusOr<StreamBuffer> mean =
      StreamBuffer::Allocate(static_cast<size_t>(heads * d) * sizeof(double), stream);
  if (!mean.ok()) return mean.status();
  absl::StatusOr<StreamBuffer> pooled = StreamBuffer::Allocate(
      static_cast<size_t>(heads * (q_tiles + k_tiles) * d) * sizeof(float), stream);
  if (!pooled.ok()) return pooled.status();
  float* pq = pooled->as<float>();
  float* pk = pq + heads * q_tiles * d;
  KeyMeanKernel<<<static_cast<unsigned>(heads), 128, 0, stream>>>(k, nk, heads, d,
                                                                  mean->as<double>());
  REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("SparseTileMap key mean"));
  PoolKernel<<<dim3(static_cast<unsigned>(q_tiles), static_cast<unsigned>(heads)), 128, 0,
               stream>>>(q, nq, heads, d, tq, nullptr, pq);
  REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("SparseTileMap pool q"));
  PoolKernel<<<dim3(static_cast<unsigned>(k_tiles), static_cast<unsigned>(heads)), 128, 0,
               stream>>>(k, nk, heads, d, tk, mean->as<double>(), pk);
  REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("SparseTileMap pool k"));
  const size_t shared = static_cast<size_t>(k_tiles) * (sizeof(float) + 1);
  SelectKernel<<<dim3(static_cast<unsigned>(q_tiles), static_cast<unsigned>(heads)), kMapThreads,
                 shared, stream>>>(pq, pk, nq, nk, d, blocks, options.topk, tq, tk, at_least_one,
                                   map);
  return internal::LaunchStatus("SparseTileMap select");
}

absl::Status FlashAttention(const float* q, const float* k, const float* v, const float* key_mask,
                            int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                            const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k,
                            float* out, cudaStream_t stream) {
  return Attend("FlashAttention", q, k, v, key_mask, nullptr, nq, nk, heads, d, scale, blocks,
                tile_q, tile_k, out, stream);
}

absl::Status BlockSparseAttention(const float* q, const float* k, const float* v,
                                  const uint8_t* map, int64_t nq, int64_t nk, int64_t heads,
                                  int64_t d, float scale, const AttentionBlocks& blocks,
                                  int64_t tile_q, int64_t tile_k, float* out, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("BlockSparseAttention", "map", map));
  return Attend("BlockSparseAttention", q, k, v, nullptr, map, nq, nk, heads, d, scale, blocks,
                tile_q, tile_k, out, stream);
}

}  // namespace reel::kernels::cuda
