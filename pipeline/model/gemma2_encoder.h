#pragma once
// Gemma-2 as SANA-Video's text encoder (GEMMA2.md): transformers' Gemma2Model forward up to the
// final norm, the `last_hidden_state` the official pipeline takes as `text_encoder(ids, mask)[0]`.
// f32 compute; weights under the official text_encoder/ names, matrices kept in their stored dtype
// (bf16 stays mapped, converted one matrix at a time during Forward).
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/weights.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// Every field of transformers' Gemma2Config that changes the encoder's forward. Defaults are
// transformers' (Gemma-2-2B), used when an optional field is absent, as transformers does.
struct Gemma2Config {
  int vocab_size = 256000;
  int hidden_size = 2304;
  int intermediate_size = 9216;
  int num_hidden_layers = 26;
  int num_attention_heads = 8;
  int num_key_value_heads = 4;
  int head_dim = 256;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  // Attention logits are scaled by query_pre_attn_scalar^-0.5 (not head_dim^-0.5).
  float query_pre_attn_scalar = 256.0f;
  // Keys j with i - sliding_window < j <= i on sliding layers; 0 = no window.
  int sliding_window = 4096;
  // logits = cap * tanh(logits / cap) before the mask; 0 = off (JSON null).
  float attn_logit_softcapping = 50.0f;
  // One entry per layer: true = sliding-window attention, false = global. From `layer_types`, or
  // transformers' rule when absent: even layers (0, 2, ...) slide.
  std::vector<bool> layer_is_sliding;
  // As transformers keeps them (-1 = null; eos: the first of a list). Not used by the forward.
  int pad_token_id = 0;
  int bos_token_id = 2;
  int eos_token_id = 1;
};

// text_encoder/config.json as transformers writes it (any version since Gemma-2's release). Every
// field is used, or known and irrelevant to the encoder (GEMMA2.md lists why), or refused with an
// error naming it; unsupported values (e.g. hidden_activation other than gelu_pytorch_tanh,
// attention biases, rope scaling, bidirectional attention) are refused.
absl::StatusOr<Gemma2Config> ParseGemma2Config(const nlohmann::json& j);

class Gemma2Encoder {
 public:
  // Weights as the official text_encoder/ stores them (Gemma2Model: "embed_tokens.weight",
  // "layers.N.self_attn.q_proj.weight", ..., "norm.weight"); a Gemma2ForCausalLM export with the
  // "model." prefix (and its tied "lm_head.weight", never used here) is accepted too.
  static absl::StatusOr<Gemma2Encoder> Load(const Gemma2Config& config, WeightStore& weights);

  // ids and attention_mask (L, mask 1 = token, 0 = padding): the last hidden state (L, hidden_size)
  // f32 after the final norm. Padding is masked in attention exactly as transformers' eager
  // attention does (GEMMA2.md "Padding"); rows at padded positions are computed too.
  absl::StatusOr<Tensor> Forward(absl::Span<const int32_t> ids,
                                 absl::Span<const int32_t> attention_mask) const;
  const Gemma2Config& config() const { return config_; }
  // Bytes of the weights as held: matrices in their stored dtype (bf16 checkpoints stay bf16,
  // mapped), norms in f32.
  int64_t parameter_bytes() const { return parameter_bytes_; }

 private:
  struct Layer {
    Tensor input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm;
    Tensor q_proj, k_proj, v_proj, o_proj;
    Tensor gate_proj, up_proj, down_proj;
  };

  Gemma2Config config_;
  Tensor embed_tokens_;
  std::vector<Layer> layers_;
  Tensor final_norm_;
  int64_t parameter_bytes_ = 0;
};

}  // namespace reel
