#pragma once
// Tiled (flash-style) softmax attention and sparse-linear attention (SLA, arXiv 2509.24006, the
// SLA-1 formulation of thu-ml/SLA). Heads packed in columns as in softmax.h: q (nq, heads*d),
// k/v (nk, heads*d), out (nq, heads*d); f32 throughout.
#include <cstdint>

namespace reel::kernels::cpu {

// Which keys a query may see, in token blocks of `block_tokens` (a video block = block_frames x
// H'W' tokens). Query row i lies in block q_first_block + i / block_tokens, key row j in
// k_first_block + j / block_tokens (rows start on a block boundary).
struct AttentionBlocks {
  int64_t block_tokens = 0;   // 0: no block structure, every query sees every key
  int64_t q_first_block = 0;  // block index of query row 0 (queries are contiguous tokens)
  int64_t k_first_block = 0;  // block index of key row 0 (keys are contiguous tokens)
  int64_t window = 0;         // 0: a query in block b sees key blocks <= b (block-causal);
                              // w > 0: only key blocks in (b - w, b]
  bool causal = false;  // false: the block rule is off (bidirectional) even if block_tokens > 0
};

// CPU defaults by measurement (kernels/README.md "Performance": 8k tokens, top-k 0.1,
// tiles 32..256; larger tiles ran faster, 128 x 64 is within ~15% of the fastest and is the
// official kernel's BLOCK_M 128 / BLOCK_N 64, as FastVideo's SLA backend).
struct SparseAttentionOptions {
  float topk = 0.1f;     // fraction of the allowed key tiles each query tile keeps, per head
  int64_t tile_q = 128;  // query tile (SLA BLKQ)
  int64_t tile_k = 64;   // key tile (SLA BLKK)
};

// Tiles of ops::FlashAttention on the CPU, by the same measurement (256 query rows per task were
// fastest; keys go in chunks of 256 whatever the key tile, which only bounds the block rule).
inline constexpr int64_t kFlashTileQ = 256;
inline constexpr int64_t kFlashTileK = 64;

// Summed over heads and query tiles.
struct SparseAttentionStats {
  int64_t tiles_computed = 0;  // critical (selected) tiles
  int64_t tiles_allowed = 0;   // tiles holding at least one (query, key) pair the block rule allows
};

// The rule helpers below are constexpr so that kernels/cuda calls the same code on the device
// (nvcc --expt-relaxed-constexpr).

// True when the block rule lets query row `i` see key row `j`.
constexpr bool KeyAllowed(const AttentionBlocks& blocks, int64_t i, int64_t j) {
  if (!blocks.causal || blocks.block_tokens <= 0) return true;
  const int64_t qb = blocks.q_first_block + i / blocks.block_tokens;
  const int64_t kb = blocks.k_first_block + j / blocks.block_tokens;
  return kb <= qb && (blocks.window <= 0 || kb > qb - blocks.window);
}

// The video blocks that query rows [i0, i1) and key rows [j0, j1) span (rule on, rows non-empty).
struct TileBlocks {
  int64_t q_lo, q_hi, k_lo, k_hi;
};
constexpr TileBlocks BlocksOfTile(const AttentionBlocks& b, int64_t i0, int64_t i1, int64_t j0,
                                  int64_t j1) {
  return {b.q_first_block + i0 / b.block_tokens, b.q_first_block + (i1 - 1) / b.block_tokens,
          b.k_first_block + j0 / b.block_tokens, b.k_first_block + (j1 - 1) / b.block_tokens};
}

// True when some row of query rows [i0, i1) may see some key of rows [j0, j1).
constexpr bool TileAllowed(const AttentionBlocks& blocks, int64_t i0, int64_t i1, int64_t j0,
                           int64_t j1) {
  if (i1 <= i0 || j1 <= j0) return false;
  if (!blocks.causal || blocks.block_tokens <= 0) return true;
  const TileBlocks t = BlocksOfTile(blocks, i0, i1, j0, j1);
  // Some query block qb and key block kb with qb - window < kb <= qb.
  for (int64_t qb = t.q_lo; qb <= t.q_hi; ++qb) {
    const int64_t lo =
        blocks.window > 0 && qb - blocks.window + 1 > t.k_lo ? qb - blocks.window + 1 : t.k_lo;
    if (lo <= (t.k_hi < qb ? t.k_hi : qb)) return true;
  }
  return false;
}

// True when every row of [i0, i1) may see every key of [j0, j1) (no per-token mask needed).
constexpr bool TileFullyAllowed(const AttentionBlocks& blocks, int64_t i0, int64_t i1, int64_t j0,
                                int64_t j1) {
  if (i1 <= i0 || j1 <= j0) return false;
  if (!blocks.causal || blocks.block_tokens <= 0) return true;
  const TileBlocks t = BlocksOfTile(blocks, i0, i1, j0, j1);
  return t.k_hi <= t.q_lo && (blocks.window <= 0 || t.k_lo > t.q_hi - blocks.window);
}

constexpr int64_t TileCount(int64_t n, int64_t tile) { return (n + tile - 1) / tile; }

// Critical tiles per query tile out of `allowed`: int(topk * allowed) clamped to [min_one, allowed]
// (1e-6 slack so that a float topk such as 0.7f times 10 still keeps 7). topk >= 1 keeps all.
// (topk * allowed >= 0, so truncation is the floor.)
constexpr int64_t CriticalTileCount(float topk, int64_t allowed, bool at_least_one) {
  if (allowed <= 0) return 0;
  if (topk >= 1.0f) return allowed;
  const double r = topk > 0.0f ? static_cast<double>(topk) : 0.0;
  int64_t n = static_cast<int64_t>(r * static_cast<double>(allowed) + 1e-6);
  if (at_least_one && n < 1) n = 1;
  return n < allowed ? n : allowed;
}

// Classes of the tile map (heads, q_tiles, k_tiles).
enum TileClass : uint8_t {
  kTileMasked = 0,    // the block rule allows no pair in the tile: skipped by both branches
  kTileMarginal = 1,  // allowed, not selected: the linear branch (SLA) or skipped (block-sparse)
  kTileCritical = 2,  // selected: exact softmax
};

// SLA's block map (thu-ml/SLA utils.py get_block_map): per head, score[I, J] = mean of q over query
// tile I . mean of smooth-K over key tile J (smooth-K = k minus its per-head mean over all nk keys;
// partial tiles pool over their true row count), then the CriticalTileCount(topk, allowed) highest
// scoring allowed tiles of each query tile are critical (ties: the lower key tile). `at_least_one`
// keeps one tile even where int(topk * allowed) is 0. map: heads * q_tiles * k_tiles TileClass.
void SparseTileMap(const float* q, const float* k, int64_t nq, int64_t nk, int64_t heads, int64_t d,
                   const AttentionBlocks& blocks, const SparseAttentionOptions& options,
                   bool at_least_one, uint8_t* map);

// softmax(q kT * scale) v over the keys allowed by `blocks` and key_mask (nk of 0/1, or null), in
// tiles with an online softmax (running max and sum in f32); never an nq x nk matrix. A query row
// with no allowed key gets 0.
void FlashAttention(const float* q, const float* k, const float* v, const float* key_mask,
                    int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                    const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k, float* out);

// SLA's sparse branch O_s: exact softmax over the keys of the critical tiles of `map` only
// (renormalized over them, as the official kernel), the block rule applied per token. A row
// with no allowed key among them gets 0.
void BlockSparseAttention(const float* q, const float* k, const float* v, const uint8_t* map,
                          int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                          const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k,
                          float* out);

// out += O_l, SLA-1's linear branch: ReLU linear attention over the keys of the marginal tiles,
// O_l = phi(q) S / (phi(q) . z + 1e-6), S = sum of phi(K_j)^T V_j and z = sum of colsum phi(K_j)
// over them, formed by the subtraction trick (all allowed tiles minus the critical ones); the
// block rule applies per token. Zero where no tile is marginal.
void SparseLinearBranchAdd(const float* q, const float* k, const float* v, const uint8_t* map,
                           int64_t nq, int64_t nk, int64_t heads, int64_t d,
                           const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k,
                           float* out);

inline constexpr float kSparseLinearEps = 1e-6f;

}  // namespace reel::kernels::cpu
