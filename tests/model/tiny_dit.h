#pragma once
// A small random-weight DiT for invariant tests (shapes as the reference's golden config), and the
// random tensors those tests feed it.
#include <random>
#include <vector>

#include "nlohmann/json.hpp"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/model/weights.h"

namespace reel::testing {

inline nlohmann::json TinyDitJson() {
  return nlohmann::json{{"in_channels", 4},  {"out_channels", 4},    {"patch_size", {1, 2, 2}},
                        {"hidden_size", 64}, {"num_layers", 2},      {"num_heads", 2},
                        {"head_dim", 32},    {"cross_num_heads", 2}, {"cross_head_dim", 32},
                        {"caption_dim", 24}, {"ffn_hidden", 96},     {"temporal_conv", "causal"},
                        {"block_frames", 2}};
}

// Normal(0, scale) values, reproducible from `seed`.
inline Tensor Random(Shape shape, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, scale);
  std::vector<float> v(NumElements(shape));
  for (float& x : v) x = n(gen);
  return *Tensor::FromVector(shape, v);
}

inline Dit TinyDit(uint32_t seed = 1) {
  WeightStore w = WeightStore::RandomForTesting(seed);
  return *Dit::Load(*ParseDitConfig(TinyDitJson()), w);
}

}  // namespace reel::testing
