#include "tests/kernels/sparse_attention_reference.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace reel::kernels::cpu::reference {

bool Sees(const AttentionBlocks& b, int64_t i, int64_t j) {
  if (!b.causal || b.block_tokens == 0) return true;
  const int64_t qb = b.q_first_block + i / b.block_tokens;
  const int64_t kb = b.k_first_block + j / b.block_tokens;
  if (kb > qb) return false;
  return b.window == 0 || qb - kb < b.window;
}

namespace {

// Softmax attention of row i of head h over the keys `use(j)` accepts, added to out.
template <typename Use>
void AttendRow(const std::vector<float>& q, const std::vector<float>& k,
               const std::vector<float>& v, int64_t i, int64_t h, int64_t nk, int64_t heads,
               int64_t d, double scale, Use use, double* out) {
  const int64_t w = heads * d;
  std::vector<double> s(nk, -INFINITY);
  double mx = -INFINITY;
  for (int64_t j = 0; j < nk; ++j) {
    if (!use(j)) continue;
    double dot = 0;
    for (int64_t c = 0; c < d; ++c) dot += double{q[i * w + h * d + c]} * k[j * w + h * d + c];
    s[j] = dot * scale;
    mx = std::max(mx, s[j]);
  }
  if (mx == -INFINITY) return;
  double sum = 0;
  for (int64_t j = 0; j < nk; ++j) sum += use(j) ? std::exp(s[j] - mx) : 0.0;
  for (int64_t j = 0; j < nk; ++j) {
    if (!use(j)) continue;
    const double p = std::exp(s[j] - mx) / sum;
    for (int64_t c = 0; c < d; ++c) out[c] += p * v[j * w + h * d + c];
  }
}

}  // namespace

std::vector<double> Flash(const std::vector<float>& q, const std::vector<float>& k,
                          const std::vector<float>& v, const float* key_mask, int64_t nq,
                          int64_t nk, int64_t heads, int64_t d, double scale,
                          const AttentionBlocks& blocks) {
  std::vector<double> out(nq * heads * d, 0.0);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < nq; ++i) {
      const auto use = [&](int64_t j) {
        return (key_mask == nullptr || key_mask[j] != 0.0f) && Sees(blocks, i, j);
      };
      AttendRow(q, k, v, i, h, nk, heads, d, scale, use, &out[i * heads * d + h * d]);
    }
  }
  return out;
}

TileMapResult TileMap(const std::vector<float>& q, const std::vector<float>& k, int64_t nq,
                      int64_t nk, int64_t heads, int64_t d, const AttentionBlocks& blocks,
                      double topk, int64_t tile_q, int64_t tile_k, bool at_least_one) {
  const int64_t w = heads * d;
  const int64_t qt = (nq + tile_q - 1) / tile_q, kt = (nk + tile_k - 1) / tile_k;
  TileMapResult r{std::vector<uint8_t>(heads * qt * kt, 0), std::vector<double>(heads * qt * kt)};
  for (int64_t h = 0; h < heads; ++h) {
    std::vector<double> mean(d, 0.0);
    for (int64_t j = 0; j < nk; ++j) {
      for (int64_t c = 0; c < d; ++c) mean[c] += k[j * w + h * d + c] / static_cast<double>(nk);
    }
    for (int64_t a = 0; a < qt; ++a) {
      const int64_t i0 = a * tile_q, i1 = std::min(nq, i0 + tile_q);
      std::vector<int64_t> allowed;
      for (int64_t b = 0; b < kt; ++b) {
        const int64_t j0 = b * tile_k, j1 = std::min(nk, j0 + tile_k);
        double score = 0;
        for (int64_t c = 0; c < d; ++c) {
          double pq = 0, pk = 0;
          for (int64_t i = i0; i < i1; ++i) pq += q[i * w + h * d + c];
          for (int64_t j = j0; j < j1; ++j) pk += k[j * w + h * d + c] - mean[c];
          score += (pq / (i1 - i0)) * (pk / (j1 - j0));
        }
        r.score[(h * qt + a) * kt + b] = score;
        bool any = false;
        for (int64_t i = i0; i < i1 && !any; ++i) {
          for (int64_t j = j0; j < j1 && !any; ++j) any = Sees(blocks, i, j);
        }
        if (any) allowed.push_back(b);
      }
      const auto total = static_cast<int64_t>(allowed.size());
      int64_t n = topk >= 1.0 ? total : static_cast<int64_t>(std::floor(topk * total + 1e-6));
      if (at_least_one && total > 0) n = std::max<int64_t>(n, 1);
      const double* srow = &r.score[(h * qt + a) * kt];
      std::stable_sort(allowed.begin(), allowed.end(),
                       [&](int64_t x, int64_t y) { return srow[x] > srow[y]; });
      uint8_t* mrow = &r.map[(h * qt + a) * kt];
      for (int64_t s = 0; s < total; ++s) mrow[allowed[s]] = s < n ? kTileCritical : kTileMarginal;
    }
  }
  return r;
}

std::vector<double> BlockSparse(const std::vector<float>& q, const std::vector<float>& k,
                                const std::vector<float>& v, const std::vector<uint8_t>& map,
                                int64_t nq, int64_t nk, int64_t heads, int64_t d, double scale,
                                const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k) {
  const int64_t qt = (nq + tile_q - 1) / tile_q, kt = (nk + tile_k - 1) / tile_k;
  std::vector<double> out(nq * heads * d, 0.0);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < nq; ++i) {
      const auto use = [&](int64_t j) {
        return map[(h * qt + i / tile_q) * kt + j / tile_k] == kTileCritical && Sees(blocks, i, j);
      };
      AttendRow(q, k, v, i, h, nk, heads, d, scale, use, &out[i * heads * d + h * d]);
    }
  }
  return out;
}

std::vector<double> Linear(const std::vector<float>& q, const std::vector<float>& k,
                           const std::vector<float>& v, const std::vector<uint8_t>& map, int64_t nq,
                           int64_t nk, int64_t heads, int64_t d, const AttentionBlocks& blocks,
                           int64_t tile_q, int64_t tile_k, unsigned classes) {
  const int64_t w = heads * d;
  const int64_t qt = (nq + tile_q - 1) / tile_q, kt = (nk + tile_k - 1) / tile_k;
  std::vector<double> out(nq * w, 0.0);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < nq; ++i) {
      std::vector<double> num(d, 0.0);
      double den = 0;
      for (int64_t j = 0; j < nk; ++j) {
        const uint8_t cls = map[(h * qt + i / tile_q) * kt + j / tile_k];
        if (!((classes >> cls) & 1u) || !Sees(blocks, i, j)) continue;
        double a = 0;
        for (int64_t c = 0; c < d; ++c) {
          a += std::max(0.0, double{q[i * w + h * d + c]}) *
               std::max(0.0, double{k[j * w + h * d + c]});
        }
        den += a;
        for (int64_t c = 0; c < d; ++c) num[c] += a * v[j * w + h * d + c];
      }
      for (int64_t c = 0; c < d; ++c) out[i * w + h * d + c] = num[c] / (den + 1e-6);
    }
  }
  return out;
}

}  // namespace reel::kernels::cpu::reference
