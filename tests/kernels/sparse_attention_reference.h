#pragma once
// Scalar double-precision oracles for kernels/cpu/sparse_attention.h: plain loops over every
// (query, key) pair, written from the definitions (thu-ml/SLA get_block_map, _attn_fwd, SLA-1's
// linear branch), not from the tiled kernels. Also the oracle the CUDA tests' CPU side trusts.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/sparse_attention.h"

namespace reel::kernels::cpu::reference {

// A test shape, shared by the CPU and CUDA tests.
struct AttentionCase {
  int64_t nq, nk, heads, d;
  AttentionBlocks blocks;
  int64_t tile_q, tile_k;
  std::string name;
};

inline AttentionBlocks Causal(int64_t block_tokens, int64_t window = 0, int64_t q_first = 0,
                              int64_t k_first = 0) {
  return AttentionBlocks{block_tokens, q_first, k_first, window, true};
}

// The block rule of AttentionBlocks, restated for the oracle.
bool Sees(const AttentionBlocks& b, int64_t i, int64_t j);

// softmax(q kT * scale) v over the allowed keys; rows with none give 0.
std::vector<double> Flash(const std::vector<float>& q, const std::vector<float>& k,
                          const std::vector<float>& v, const float* key_mask, int64_t nq,
                          int64_t nk, int64_t heads, int64_t d, double scale,
                          const AttentionBlocks& blocks);

// The tile map (TileClass values, heads x q_tiles x k_tiles) and the pooled scores (same layout).
struct TileMapResult {
  std::vector<uint8_t> map;
  std::vector<double> score;
};
TileMapResult TileMap(const std::vector<float>& q, const std::vector<float>& k, int64_t nq,
                      int64_t nk, int64_t heads, int64_t d, const AttentionBlocks& blocks,
                      double topk, int64_t tile_q, int64_t tile_k, bool at_least_one);

// Softmax over the allowed keys of the critical tiles of `map`.
std::vector<double> BlockSparse(const std::vector<float>& q, const std::vector<float>& k,
                                const std::vector<float>& v, const std::vector<uint8_t>& map,
                                int64_t nq, int64_t nk, int64_t heads, int64_t d, double scale,
                                const AttentionBlocks& blocks, int64_t tile_q, int64_t tile_k);

// ReLU linear attention over the allowed keys whose tile class is in `classes` (bit c set: class c
// counts): relu(q).sum relu(k_j) v_j / (relu(q).sum relu(k_j) + 1e-6).
std::vector<double> Linear(const std::vector<float>& q, const std::vector<float>& k,
                           const std::vector<float>& v, const std::vector<uint8_t>& map, int64_t nq,
                           int64_t nk, int64_t heads, int64_t d, const AttentionBlocks& blocks,
                           int64_t tile_q, int64_t tile_k, unsigned classes);

}  // namespace reel::kernels::cpu::reference
