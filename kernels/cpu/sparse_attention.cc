#include "kernels/cpu/sparse_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::ExpF;
using internal::kParallelMinWork;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Consecutive key tiles of a visit list are merged into one product of up to this many keys: a
// 64 x 64 x 64 GEMM is too small for oneDNN to reach its peak on a CPU.
constexpr int64_t kChunkKeys = 256;

// Mean of k over all nk rows of head h, in double (smooth-K subtracts it; SageAttention).
void KeyMean(const float* k, int64_t nk, int64_t width, int64_t d, double* mean) {
  std::fill(mean, mean + d, 0.0);
  for (int64_t j = 0; j < nk; ++j) {
    const float* row = k + j * width;
    for (int64_t c = 0; c < d; ++c) mean[c] += row[c];
  }
  for (int64_t c = 0; c < d; ++c) mean[c] /= static_cast<double>(std::max<int64_t>(nk, 1));
}

// Mean of rows [r0, r1) of one head, in double, minus `shift` (or not).
void PoolRows(const float* x, int64_t r0, int64_t r1, int64_t width, int64_t d, const double* shift,
              float* pooled) {
  std::vector<double> acc(d, 0.0);
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * width;
    for (int64_t c = 0; c < d; ++c) acc[c] += row[c];
  }
  const double inv = 1.0 / static_cast<double>(r1 - r0);
  for (int64_t c = 0; c < d; ++c) {
    pooled[c] = static_cast<float>(acc[c] * inv - (shift != nullptr ? shift[c] : 0.0));
  }
}

// Per-row online softmax update for one chunk of scores s (rows x cols, already scaled and masked
// with -inf): m/l are the running max and sum; acc rows are rescaled; s becomes P (exp(s - m)).
REEL_CPU_MULTIVERSION void OnlineSoftmaxChunk(float* s, int64_t rows, int64_t cols, int64_t ld,
                                              float* m, float* l, float* acc, int64_t d) {
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    float mx = kNegInf;
#pragma omp simd reduction(max : mx)
    for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, sr[c]);
    const float m_new = std::max(m[r], mx);
    if (m_new == kNegInf) {  // No allowed key yet: P = 0 keeps acc and l at 0.
      std::fill(sr, sr + cols, 0.0f);
      continue;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) {
      const float e = ExpF(sr[c] - m_new);
      sr[c] = e;
      sum += e;
    }
    const float alpha = m[r] == kNegInf ? 0.0f : ExpF(m[r] - m_new);
    l[r] = l[r] * alpha + sum;
    m[r] = m_new;
    if (alpha != 1.0f) {
      float* ar = acc + r * d;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) ar[c] *= alpha;
    }
  }
}

// Sets the scores of (row, key) pairs the block rule or the key mask forbids to -inf; key c of
// the chunk is key row keys[c].
void MaskChunk(float* s, int64_t rows, int64_t cols, int64_t i0, const int64_t* keys,
               const AttentionBlocks& blocks, const float* key_mask) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t j = keys[c];
      if ((key_mask != nullptr && key_mask[j] == 0.0f) || !KeyAllowed(blocks, i0 + r, j)) {
        s[r * cols + c] = kNegInf;
      }
    }
  }
}

// Scratch of one thread for one (head, query tile) task: the chunk's keys and values gathered
// contiguous (scattered critical tiles become one product; rows are d floats apart, not heads*d).
struct TileScratch {
  std::vector<float> scores, acc, m, l, keys, values;
  std::vector<int64_t> key_rows;
  TileScratch(int64_t tile_q, int64_t d)
      : scores(tile_q * kChunkKeys),
        acc(tile_q * d),
        m(tile_q),
        l(tile_q),
        keys(kChunkKeys * d),
        values(kChunkKeys * d),
        key_rows(kChunkKeys) {}
};

// One chunk of gathered keys into the running softmax of query rows [i0, i0 + rows).
void AttendChunk(const float* qh, int64_t width, int64_t i0, int64_t rows, int64_t cols,
                 bool needs_mask, int64_t d, float scale, const AttentionBlocks& blocks,
                 const float* key_mask, TileScratch& t) {
  float* s = t.scores.data();
  GemmWith(GemmBackend::kOneDnn, false, true, rows, cols, d, scale, qh, width, t.keys.data(), d,
           0.0f, s, cols);
  if (needs_mask) MaskChunk(s, rows, cols, i0, t.key_rows.data(), blocks, key_mask);
  OnlineSoftmaxChunk(s, rows, cols, cols, t.m.data(), t.l.data(), t.acc.data(), d);
  GemmWith(GemmBackend::kOneDnn, false, false, rows, d, cols, 1.0f, s, cols, t.values.data(), d,
           1.0f, t.acc.data(), d);
}

// Exact softmax attention of query rows [i0, i0 + rows) of head h over the key tiles listed in
// `tiles`, online across chunks of up to kChunkKeys gathered keys; writes out rows.
void AttendTiles(const float* q, const float* k, const float* v, const float* key_mask,
                 const std::vector<int64_t>& tiles, int64_t i0, int64_t rows, int64_t nk,
                 int64_t width, int64_t h, int64_t d, float scale, const AttentionBlocks& blocks,
                 int64_t tile_k, TileScratch& t, float* out) {
  std::fill(t.acc.begin(), t.acc.begin() + rows * d, 0.0f);
  std::fill(t.m.begin(), t.m.begin() + rows, kNegInf);
  std::fill(t.l.begin(), t.l.begin() + rows, 0.0f);
  const float* qh = q + i0 * width + h * d;
  int64_t cols = 0;
  bool needs_mask = false;
  for (const int64_t jt : tiles) {
    const int64_t j1 = std::min(nk, (jt + 1) * tile_k);
    for (int64_t j0 = jt * tile_k; j0 < j1;) {  // A tile larger than a chunk spans several.
      const int64_t take = std::min(j1 - j0, kChunkKeys - cols);
      needs_mask |= !TileFullyAllowed(blocks, i0, i0 + rows, j0, j0 + take);
      for (int64_t c = 0; c < take; ++c) {
        const int64_t j = j0 + c;
        const float* kr = k + j * width + h * d;
        const float* vr = v + j * width + h * d;
        float* kd = t.keys.data() + (cols + c) * d;
        float* vd = t.values.data() + (cols + c) * d;
        t.key_rows[cols + c] = j;
        std::copy(kr, kr + d, kd);
        if (key_mask != nullptr && key_mask[j] == 0.0f) {
          // A padded row is zeroed, not just weighted 0: 0 * NaN would still reach the output.
          std::fill(vd, vd + d, 0.0f);
          needs_mask = true;
        } else {
          std::copy(vr, vr + d, vd);
        }
      }
      cols += take;
      j0 += take;
      if (cols == kChunkKeys) {
        AttendChunk(qh, width, i0, rows, cols, needs_mask, d, scale, blocks, key_mask, t);
        cols = 0;
        needs_mask = false;
      }
    }
  }
  if (cols > 0) AttendChunk(qh, width, i0, rows, cols, needs_mask, d, scale, blocks, key_mask, t);
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + (i0 + r) * width + h * d;
    const float inv = t.l[r] > 0.0f ? 1.0f / t.l[r] : 0.0f;
    const float* ar = t.acc.data() + r * d;
    for (int64_t c = 0; c < d; ++c) o[c] = ar[c] * inv;
  }
}

}  // namespace

void SparseTileMap(const float* q, const float* k, int64_t nq, int64_t nk, int64_t heads, int64_t d,
                   const AttentionBlocks& blocks, const SparseAttentionOptions& options,
                   bool at_least_one, uint8_t* map) {
  const int64_t width = heads * d, tq = options.tile_q, tk = options.tile_k;
  const int64_t q_tiles = TileCount(nq, tq), k_tiles = TileCount(nk, tk);
  // Which tiles the block rule allows is the same for every head.
  std::vector<uint8_t> allowed(q_tiles * k_tiles);
  for (int64_t it = 0; it < q_tiles; ++it) {
    for (int64_t jt = 0; jt < k_tiles; ++jt) {
      allowed[it * k_tiles + jt] = TileAllowed(blocks, it * tq, std::min(nq, (it + 1) * tq),
                                               jt * tk, std::min(nk, (jt + 1) * tk));
    }
  }
  const bool parallel = heads > 1 && nq * width + nk * width >= kParallelMinWork;
#pragma omp parallel for schedule(dynamic) if (parallel)
  for (int64_t h = 0; h < heads; ++h) {
    std::vector<double> mean(d);
    KeyMean(k + h * d, nk, width, d, mean.data());
    std::vector<float> pq(q_tiles * d), pk(k_tiles * d), score(q_tiles * k_tiles);
    for (int64_t it = 0; it < q_tiles; ++it) {
      PoolRows(q + h * d, it * tq, std::min(nq, (it + 1) * tq), width, d, nullptr,
               pq.data() + it * d);
    }
    for (int64_t jt = 0; jt < k_tiles; ++jt) {
      PoolRows(k + h * d, jt * tk, std::min(nk, (jt + 1) * tk), width, d, mean.data(),
               pk.data() + jt * d);
    }
    GemmWith(GemmBackend::kOneDnn, false, true, q_tiles, k_tiles, d, 1.0f, pq.data(), d, pk.data(),
             d, 0.0f, score.data(), k_tiles);
    std::vector<int64_t> order;
    for (int64_t it = 0; it < q_tiles; ++it) {
      uint8_t* row = map + (h * q_tiles + it) * k_tiles;
      const float* srow = score.data() + it * k_tiles;
      order.clear();
      for (int64_t jt = 0; jt < k_tiles; ++jt) {
        row[jt] = allowed[it * k_tiles + jt] ? kTileMarginal : kTileMasked;
        if (row[jt] != kTileMasked) order.push_back(jt);
      }
      const int64_t n =
          CriticalTileCount(options.topk, static_cast<int64_t>(order.size()), at_least_one);
      std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int64_t a, int64_t b) {
        return srow[a] > srow[b] || (srow[a] == srow[b] && a < b);
      });
      for (int64_t s = 0; s < n; ++s) row[order[s]] = kTileCritical;
    }
  }
}

void FlashAttention(const float* q, const float* k, const float* v, const float* key_mask,
                    int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                    const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k, float* out) {
  const int64_t width = heads * d;
  const int64_t q_tiles = TileCount(nq, tile_q), k_tiles = TileCount(nk, tile_k);
  // Key tiles with at least one key the mask keeps (others are skipped outright).
  std::vector<uint8_t> kept(k_tiles, 1);
  if (key_mask != nullptr) {
    for (int64_t jt = 0; jt < k_tiles; ++jt) {
      kept[jt] = 0;
      for (int64_t j = jt * tile_k; j < std::min(nk, (jt + 1) * tile_k); ++j) {
        kept[jt] |= key_mask[j] != 0.0f;
      }
    }
  }
  const int64_t tasks = heads * q_tiles;
  const bool parallel = tasks > 1 && nq * nk * width >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    TileScratch scratch(tile_q, d);
    std::vector<int64_t> tiles;
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t it = task % q_tiles, h = task / q_tiles;
      const int64_t i0 = it * tile_q, rows = std::min(tile_q, nq - i0);
      tiles.clear();
      for (int64_t jt = 0; jt < k_tiles; ++jt) {
        if (kept[jt] &&
            TileAllowed(blocks, i0, i0 + rows, jt * tile_k, std::min(nk, (jt + 1) * tile_k))) {
          tiles.push_back(jt);
        }
      }
      AttendTiles(q, k, v, key_mask, tiles, i0, rows, nk, width, h, d, scale, blocks, tile_k,
                  scratch, out);
    }
  }
}

void BlockSparseAttention(const float* q, const float* k, const float* v, const uint8_t* map,
                          int64_t nq, int64_t nk, int64_t heads, int64_t d, float scale,
                          const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k,
                          float* out) {
  const int64_t width = heads * d;
  const int64_t q_tiles = TileCount(nq, tile_q), k_tiles = TileCount(nk, tile_k);
  const int64_t tasks = heads * q_tiles;
  const bool parallel = tasks > 1 && nq * tile_k * width >= kParallelMinWork;
#pragma omp parallel if (parallel)
  {
    TileScratch scratch(tile_q, d);
    std::vector<int64_t> tiles;  // The LUT of this (head, query tile).
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t it = task % q_tiles, h = task / q_tiles;
      const int64_t i0 = it * tile_q, rows = std::min(tile_q, nq - i0);
      const uint8_t* row = map + (h * q_tiles + it) * k_tiles;
      tiles.clear();
      for (int64_t jt = 0; jt < k_tiles; ++jt) {
        if (row[jt] == kTileCritical) tiles.push_back(jt);
      }
      AttendTiles(q, k, v, nullptr, tiles, i0, rows, nk, width, h, d, scale, blocks, tile_k,
                  scratch, out);
    }
  }
}

}  // namespace reel::kernels::cpu
