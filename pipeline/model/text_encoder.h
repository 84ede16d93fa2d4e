#pragma once
// The reel text encoder (TEXT_ENCODER.md): token + position embedding, pre-LN transformer layers
// with masked softmax self-attention and a GELU-tanh MLP, final LayerNorm. Output (max_tokens, dim)
// feeds the DiT's caption input; the prompt's mask is its caption_mask.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/placement.h"
#include "pipeline/model/tokenizer.h"
#include "pipeline/model/weights.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct TextEncoderConfig {
  int vocab_size = 0;
  int dim = 0;
  int num_layers = 0;
  int num_heads = 0;
  int mlp_hidden = 0;
  int max_tokens = 0;
  float norm_eps = 1e-5f;
};

// The config.json `text_encoder` section; strict (unknown keys are errors).
absl::StatusOr<TextEncoderConfig> ParseTextEncoderConfig(const nlohmann::json& j);

class TextEncoder {
 public:
  // Takes every weight of TEXT_ENCODER.md "Weights" and checks that nothing else is stored.
  static absl::StatusOr<TextEncoder> Load(const TextEncoderConfig& config, WeightStore& weights);

  // A copy that runs on the placement's device, as Dit::Placed: the projections (q, k, v, o, fc1,
  // fc2) in the placement's precision, norms and biases f32, uploaded once. The embedding tables
  // stay on the CPU: the per-token lookup runs on the host and its result is uploaded once per
  // prompt. UNAVAILABLE when the device cannot run (device_memory.h).
  absl::StatusOr<TextEncoder> Placed(const Placement& placement) const;
  const Device& device() const { return placement_.device; }

  // (max_tokens, dim) f32 on the encoder's device. Rows at padded positions are computed too (the
  // DiT masks them).
  absl::StatusOr<Tensor> Encode(const TokenizedPrompt& prompt) const;
  const TextEncoderConfig& config() const { return config_; }

 private:
  struct Layer {
    Tensor norm1_w, norm1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    Tensor norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };

  TextEncoderConfig config_;
  Placement placement_;
  Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  Tensor final_w_, final_b_;
};

}  // namespace reel
