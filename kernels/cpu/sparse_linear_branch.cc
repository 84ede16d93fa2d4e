// SLA-1's linear branch (thu-ml/SLA@SLA-1 core.py / kernel.py): linear attention over the marginal
// tiles through the subtraction trick. Part of sparse_attention.h.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/internal.h"
#include "kernels/cpu/sparse_attention.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// Per head: prefix sums over key tiles of S_j = phi(K_j)^T V_j (d x d, row = k feature) and
// z_j = colsum phi(K_j), in double, so that the sum over any run of tiles is one subtraction that
// does not lose the small tiles' bits (the official kernel subtracts in fp32 from a bf16 total).
struct TilePrefix {
  int64_t d = 0;
  std::vector<double> s;  // (k_tiles + 1) x d x d
  std::vector<double> z;  // (k_tiles + 1) x d
  const double* S(int64_t t) const { return s.data() + t * d * d; }
  const double* Z(int64_t t) const { return z.data() + t * d; }
};

void Relu(const float* x, int64_t rows, int64_t ld, int64_t d, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < d; ++c) y[r * d + c] = std::max(x[r * ld + c], 0.0f);
  }
}

TilePrefix BuildPrefix(const float* fk, const float* vh, int64_t nk, int64_t width, int64_t d,
                       int64_t tile_k, bool parallel) {
  const int64_t k_tiles = TileCount(nk, tile_k);
  std::vector<float> tile_s(k_tiles * d * d), tile_z(k_tiles * d, 0.0f);
#pragma omp parallel for schedule(dynamic) if (parallel && k_tiles > 1)
  for (int64_t jt = 0; jt < k_tiles; ++jt) {
    const int64_t j0 = jt * tile_k, cols = std::min(tile_k, nk - j0);
    GemmWith(GemmBackend::kOneDnn, true, false, d, d, cols, 1.0f, fk + j0 * d, d, vh + j0 * width,
             width, 0.0f, tile_s.data() + jt * d * d, d);
    float* z = tile_z.data() + jt * d;
    for (int64_t j = j0; j < j0 + cols; ++j) {
      for (int64_t c = 0; c < d; ++c) z[c] += fk[j * d + c];
    }
  }
  TilePrefix p;
  p.d = d;
  p.s.assign((k_tiles + 1) * d * d, 0.0);
  p.z.assign((k_tiles + 1) * d, 0.0);
  for (int64_t jt = 0; jt < k_tiles; ++jt) {
    const double* ps = p.S(jt);
    double* ns = p.s.data() + (jt + 1) * d * d;
    const float* ts = tile_s.data() + jt * d * d;
    for (int64_t e = 0; e < d * d; ++e) ns[e] = ps[e] + ts[e];
    const double* pz = p.Z(jt);
    double* nz = p.z.data() + (jt + 1) * d;
    for (int64_t c = 0; c < d; ++c) nz[c] = pz[c] + tile_z[jt * d + c];
  }
  return p;
}

// acc_s/acc_z += sign * (prefix[b] - prefix[a]): the tiles [a, b).
void AddRun(const TilePrefix& p, int64_t a, int64_t b, double sign, double* acc_s, double* acc_z) {
  const int64_t d = p.d;
  const double *sb = p.S(b), *sa = p.S(a), *zb = p.Z(b), *za = p.Z(a);
  for (int64_t e = 0; e < d * d; ++e) acc_s[e] += sign * (sb[e] - sa[e]);
  for (int64_t c = 0; c < d; ++c) acc_z[c] += sign * (zb[c] - za[c]);
}

// Scratch of one thread for one query tile.
struct QueryTileScratch {
  std::vector<double> acc_s, acc_z;
  std::vector<float> s, z, fq, num, den, a;
  std::vector<int64_t> partial;
  QueryTileScratch(int64_t d, int64_t tile_q, int64_t tile_k)
      : acc_s(d * d),
        acc_z(d),
        s(d * d),
        z(d),
        fq(tile_q * d),
        num(tile_q * d),
        den(tile_q),
        a(tile_q * tile_k) {}
};

// out rows [i0, i0 + rows) of head h += O_l over the marginal tiles of `row` (the tile map row).
void LinearBranchTile(const float* q, const float* fk, const float* v, const uint8_t* row,
                      const TilePrefix& prefix, int64_t i0, int64_t rows, int64_t nk, int64_t width,
                      int64_t h, int64_t d, const AttentionBlocks& blocks, int64_t tile_k,
                      QueryTileScratch& t, float* out) {
  const int64_t k_tiles = TileCount(nk, tile_k);
  std::fill(t.acc_s.begin(), t.acc_s.end(), 0.0);
  std::fill(t.acc_z.begin(), t.acc_z.end(), 0.0);
  t.partial.clear();
  // Subtraction trick: every run of tiles the rule fully allows, minus the critical ones among
  // them. Tiles the rule cuts through are added token by token below.
  const auto full = [&](int64_t jt) {
    return row[jt] != kTileMasked &&
           TileFullyAllowed(blocks, i0, i0 + rows, jt * tile_k, std::min(nk, (jt + 1) * tile_k));
  };
  bool any_marginal = false;
  for (int64_t jt = 0; jt < k_tiles;) {
    if (!full(jt)) {
      if (row[jt] == kTileMarginal) t.partial.push_back(jt);
      ++jt;
      continue;
    }
    int64_t end = jt + 1;
    while (end < k_tiles && full(end)) ++end;
    AddRun(prefix, jt, end, 1.0, t.acc_s.data(), t.acc_z.data());
    for (int64_t u = jt; u < end; ++u) {
      if (row[u] == kTileCritical) {
        AddRun(prefix, u, u + 1, -1.0, t.acc_s.data(), t.acc_z.data());
      } else {
        any_marginal = true;
      }
    }
    jt = end;
  }
  if (!any_marginal && t.partial.empty()) return;  // Every allowed tile is critical: O_l = 0.
  for (int64_t e = 0; e < d * d; ++e) t.s[e] = static_cast<float>(t.acc_s[e]);
  for (int64_t c = 0; c < d; ++c) t.z[c] = static_cast<float>(t.acc_z[c]);
  Relu(q + i0 * width + h * d, rows, width, d, t.fq.data());
  // num = phi(Q_I) S, den = phi(Q_I) . z.
  GemmWith(GemmBackend::kOneDnn, false, false, rows, d, d, 1.0f, t.fq.data(), d, t.s.data(), d,
           0.0f, t.num.data(), d);
  for (int64_t r = 0; r < rows; ++r) {
    float dot = 0.0f;
    for (int64_t c = 0; c < d; ++c) dot += t.fq[r * d + c] * t.z[c];
    t.den[r] = dot;
  }
  for (const int64_t jt : t.partial) {
    const int64_t j0 = jt * tile_k, cols = std::min(tile_k, nk - j0);
    // A = phi(Q_I) phi(K_J)^T with the forbidden pairs zeroed; num += A V_J, den += rowsum A.
    GemmWith(GemmBackend::kOneDnn, false, true, rows, cols, d, 1.0f, t.fq.data(), d, fk + j0 * d, d,
             0.0f, t.a.data(), cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        float& x = t.a[r * cols + c];
        if (!KeyAllowed(blocks, i0 + r, j0 + c)) x = 0.0f;
        t.den[r] += x;
      }
    }
    GemmWith(GemmBackend::kOneDnn, false, false, rows, d, cols, 1.0f, t.a.data(), cols,
             v + j0 * width + h * d, width, 1.0f, t.num.data(), d);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + (i0 + r) * width + h * d;
    const float inv = 1.0f / (t.den[r] + kSparseLinearEps);
    for (int64_t c = 0; c < d; ++c) o[c] += t.num[r * d + c] * inv;
  }
}

// The whole linear branch of head h; `parallel`: its key and query tiles spread over the threads
// (one head at a time), else all on the calling thread (heads spread over the threads).
void LinearBranchHead(const float* q, const float* k, const float* v, const uint8_t* map,
                      int64_t nq, int64_t nk, int64_t heads, int64_t h, int64_t d,
                      const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k, bool parallel,
                      float* out) {
  const int64_t width = heads * d;
  const int64_t q_tiles = TileCount(nq, tile_q), k_tiles = TileCount(nk, tile_k);
  std::vector<float> fk(nk * d);
  Relu(k + h * d, nk, width, d, fk.data());
  const TilePrefix prefix = BuildPrefix(fk.data(), v + h * d, nk, width, d, tile_k, parallel);
#pragma omp parallel if (parallel && q_tiles > 1)
  {
    QueryTileScratch scratch(d, tile_q, tile_k);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < q_tiles; ++it) {
      const int64_t i0 = it * tile_q, rows = std::min(tile_q, nq - i0);
      LinearBranchTile(q, fk.data(), v, map + (h * q_tiles + it) * k_tiles, prefix, i0, rows, nk,
                       width, h, d, blocks, tile_k, scratch, out);
    }
  }
}

}  // namespace

void SparseLinearBranchAdd(const float* q, const float* k, const float* v, const uint8_t* map,
                           int64_t nq, int64_t nk, int64_t heads, int64_t d,
                           const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k,
                           float* out) {
  const bool parallel = (nq + nk) * heads * d * d >= kParallelMinWork;
  // Whole heads per thread when there are enough of them: one parallel region instead of two per
  // head (on a loaded machine each region's wake-up can cost milliseconds).
  if (parallel && heads >= omp_get_max_threads()) {
#pragma omp parallel for schedule(dynamic)
    for (int64_t h = 0; h < heads; ++h) {
      LinearBranchHead(q, k, v, map, nq, nk, heads, h, d, blocks, tile_q, tile_k, false, out);
    }
  } else {
    for (int64_t h = 0; h < heads; ++h) {
      LinearBranchHead(q, k, v, map, nq, nk, heads, h, d, blocks, tile_q, tile_k, parallel, out);
    }
  }
}

}  // namespace reel::kernels::cpu
