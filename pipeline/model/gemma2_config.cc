// ParseGemma2Config: transformers' Gemma2Config fields (configuration_gemma2.py, 4.42 to today),
// each used, known-irrelevant (the reason next to it), or refused. GEMMA2.md has the table.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/model/gemma2_encoder.h"
#include "pipeline/model/json_fields.h"

namespace reel {
namespace {

// Fields that never change the encoder's forward, and why.
struct IrrelevantField {
  const char* name;
  const char* why;
};
constexpr IrrelevantField kIrrelevantFields[] = {
    {"architectures", "Gemma2Model or Gemma2ForCausalLM: the weight names tell (Load)"},
    {"torch_dtype", "the stored tensors' dtype is what is read"},
    {"dtype", "newer transformers' name for torch_dtype"},
    {"transformers_version", "bookkeeping"},
    {"_name_or_path", "bookkeeping"},
    {"initializer_range", "training-time initialisation"},
    {"use_cache", "KV cache for generation; the encoder runs one forward pass"},
    {"cache_implementation", "KV cache for generation"},
    {"final_logit_softcapping", "caps the LM head's logits, which an encoder never computes"},
    {"tie_word_embeddings", "the LM head again"},
    {"attention_dropout", "dropout is off at inference"},
    {"max_position_embeddings", "RoPE is computed for any position; transformers does not clip"},
    {"hidden_act", "Gemma2MLP reads hidden_activation only (a Gemma-1 legacy field)"},
};

// A token id as transformers types it: an integer, null (none: -1), or for eos a list (the first).
void TokenId(JsonFields& f, const nlohmann::json& j, const std::string& key, int& out) {
  nlohmann::json v;
  f.Optional(key, v);
  if (!j.is_object() || !j.contains(key)) return;
  if (v.is_array() && !v.empty()) v = v.front();
  if (v.is_null()) {
    out = -1;
  } else if (v.is_number_integer()) {
    out = v.get<int>();
  } else {
    f.Error(absl::StrCat("'", key, "' must be an integer, a list of integers or null"));
  }
}

// A JSON value that may be null: null → `if_null`, a number → its value, else an error.
void NullableNumber(JsonFields& f, const nlohmann::json& j, const std::string& key, float& out,
                    float if_null) {
  nlohmann::json v;
  f.Optional(key, v);
  if (!j.is_object() || !j.contains(key)) return;
  if (v.is_null()) {
    out = if_null;
  } else if (v.is_number()) {
    out = v.get<float>();
  } else {
    f.Error(absl::StrCat("'", key, "' must be a number or null"));
  }
}

void ParseRope(JsonFields& f, const nlohmann::json& j, Gemma2Config& c) {
  f.Optional("rope_theta", c.rope_theta);
  // Newer transformers write {"rope_type": "default", "rope_theta": θ} instead of rope_theta, and
  // older ones may carry rope_scaling: only the plain (default) rotary embedding exists in Gemma-2.
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    nlohmann::json v;
    f.Optional(key, v);
    if (!j.is_object() || !j.contains(key) || v.is_null()) continue;
    if (!v.is_object()) {
      f.Error(absl::StrCat("'", key, "' must be an object or null"));
      continue;
    }
    for (const auto& [k, e] : v.items()) {
      if (k == "rope_type" || k == "type") {
        if (e != "default") {
          f.Error(absl::StrCat("'", key, ".", k, "' is ", e.dump(),
                               "; only the default rotary embedding is supported"));
        }
      } else if (k == "rope_theta" && e.is_number()) {
        c.rope_theta = e.get<float>();
      } else {
        f.Error(absl::StrCat("'", key, ".", k, "' is not supported"));
      }
    }
  }
}

void ParseLayerTypes(JsonFields& f, const nlohmann::json& j, Gemma2Config& c) {
  nlohmann::json types;
  f.Optional("layer_types", types);
  c.layer_is_sliding.clear();
  if (!j.is_object() || !j.contains("layer_types") || types.is_null()) {
    // transformers: layer i is "sliding_attention" when (i + 1) % 2, i.e. even layers slide.
    for (int i = 0; i < c.num_hidden_layers; ++i) c.layer_is_sliding.push_back(i % 2 == 0);
    return;
  }
  if (!types.is_array() || static_cast<int>(types.size()) != c.num_hidden_layers) {
    f.Error(absl::StrCat("'layer_types' must list num_hidden_layers (", c.num_hidden_layers,
                         ") entries"));
    return;
  }
  for (const auto& t : types) {
    if (t == "sliding_attention") {
      c.layer_is_sliding.push_back(true);
    } else if (t == "full_attention") {
      c.layer_is_sliding.push_back(false);
    } else {
      f.Error(absl::StrCat("'layer_types' entry ", t.dump(),
                           " is not sliding_attention or full_attention"));
    }
  }
}

// A field accepted only with the value that Gemma-2-2B has (anything else computes another model).
template <typename T>
void OnlyValue(JsonFields& f, const nlohmann::json& j, const std::string& key, const T& allowed,
               bool null_ok, const char* why) {
  nlohmann::json v;
  f.Optional(key, v);
  if (!j.is_object() || !j.contains(key) || (null_ok && v.is_null())) return;
  if (v != nlohmann::json(allowed)) {
    f.Error(absl::StrCat("'", key, "' is ", v.dump(), "; only ", nlohmann::json(allowed).dump(),
                         " is supported (", why, ")"));
  }
}

}  // namespace

absl::StatusOr<Gemma2Config> ParseGemma2Config(const nlohmann::json& j) {
  Gemma2Config c;
  JsonFields f(j, "text_encoder/config.json");
  f.Required("vocab_size", c.vocab_size);
  f.Required("hidden_size", c.hidden_size);
  f.Required("intermediate_size", c.intermediate_size);
  f.Required("num_hidden_layers", c.num_hidden_layers);
  f.Required("num_attention_heads", c.num_attention_heads);
  f.Required("num_key_value_heads", c.num_key_value_heads);
  f.Optional("head_dim", c.head_dim);
  f.Optional("rms_norm_eps", c.rms_norm_eps);
  f.Optional("query_pre_attn_scalar", c.query_pre_attn_scalar);
  // Kept in the config like transformers does; the forward does not use them (the tokenizer's ids
  // are what the prompt processing uses).
  TokenId(f, j, "pad_token_id", c.pad_token_id);
  TokenId(f, j, "bos_token_id", c.bos_token_id);
  TokenId(f, j, "eos_token_id", c.eos_token_id);
  float window = static_cast<float>(c.sliding_window);
  NullableNumber(f, j, "sliding_window", window, 0.0f);
  if (!(window >= 0.0f && window <= 1e9f) || window != std::floor(window)) {
    f.Error("'sliding_window' must be a non-negative integer or null");
  } else {
    c.sliding_window = static_cast<int>(window);
  }
  NullableNumber(f, j, "attn_logit_softcapping", c.attn_logit_softcapping, 0.0f);
  ParseRope(f, j, c);
  ParseLayerTypes(f, j, c);
  OnlyValue(f, j, "model_type", std::string("gemma2"), false, "a Gemma-2 text encoder");
  OnlyValue(f, j, "hidden_activation", std::string("gelu_pytorch_tanh"), true,
            "Gemma-2's GeGLU uses the tanh GELU");
  OnlyValue(f, j, "attention_bias", false, false, "Gemma-2 projections have no bias");
  OnlyValue(f, j, "use_bidirectional_attention", false, true, "SANA-Video's encoder is causal");
  for (const IrrelevantField& field : kIrrelevantFields) {
    nlohmann::json ignored;
    f.Optional(field.name, ignored);
  }
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.head_dim <= 0) {
    f.Error("sizes must be positive");
  } else if (c.num_attention_heads % c.num_key_value_heads != 0) {
    f.Error("num_attention_heads must be a multiple of num_key_value_heads");
  } else if (c.head_dim % 2 != 0) {
    f.Error("head_dim must be even (rotary embedding)");
  }
  if (!(c.rms_norm_eps > 0.0f)) f.Error("'rms_norm_eps' must be positive");
  if (!(c.rope_theta > 0.0f)) f.Error("'rope_theta' must be positive");
  if (!(c.query_pre_attn_scalar > 0.0f)) f.Error("'query_pre_attn_scalar' must be positive");
  if (c.attn_logit_softcapping < 0.0f) f.Error("'attn_logit_softcapping' must be positive");
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

}  // namespace reel
