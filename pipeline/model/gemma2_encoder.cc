// Gemma-2 forward (transformers modeling_gemma2.py, eager attention), f32.
#include "pipeline/model/gemma2_encoder.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Gemma's RMSNorm scales by (1 + w) (its weights are stored as offsets from 1): folded once here.
absl::StatusOr<Tensor> OnePlus(const Tensor& w) {
  if (!w.defined() || w.numel() == 0) return Tensor();
  REEL_ASSIGN_OR_RETURN(std::vector<float> v, w.ToVector());
  for (float& x : v) x += 1.0f;
  return Tensor::FromVector(w.shape(), v);
}

// cos/sin (L, head_dim/2) of positions 0..L-1, rounded as transformers computes them: inv_freq and
// the angles in f32 (Gemma2RotaryEmbedding forces f32), then cos/sin of the f32 angle.
absl::Status RopeTables(int64_t length, int head_dim, float theta, Tensor& cos, Tensor& sin) {
  const int half = head_dim / 2;
  std::vector<float> inv_freq(half), c(length * half), s(length * half);
  for (int j = 0; j < half; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[j] = 1.0f / std::pow(theta, exponent);
  }
  for (int64_t p = 0; p < length; ++p) {
    for (int j = 0; j < half; ++j) {
      const float angle = static_cast<float>(p) * inv_freq[j];
      c[p * half + j] = std::cos(angle);
      s[p * half + j] = std::sin(angle);
    }
  }
  REEL_ASSIGN_OR_RETURN(cos, Tensor::FromVector({length, half}, c));
  REEL_ASSIGN_OR_RETURN(sin, Tensor::FromVector({length, half}, s));
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Norm(const Tensor& x, float eps, const Tensor& one_plus_w) {
  return ops::RmsNorm(x, eps, &one_plus_w);
}

// y = x · wᵀ with w in its stored dtype: a bf16 weight is converted for this one product only, so
// at most one matrix exists in f32 at a time next to the mapped bf16 file.
absl::StatusOr<Tensor> Project(const Tensor& x, const Tensor& w) {
  if (w.dtype() == DType::kF32) return ops::Linear(x, w, nullptr);
  REEL_ASSIGN_OR_RETURN(Tensor w32, ops::Cast(w, DType::kF32));
  return ops::Linear(x, w32, nullptr);
}

}  // namespace

absl::StatusOr<Gemma2Encoder> Gemma2Encoder::Load(const Gemma2Config& c, WeightStore& s) {
  if (static_cast<int>(c.layer_is_sliding.size()) != c.num_hidden_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("Gemma-2 config: layer_is_sliding has ", c.layer_is_sliding.size(),
                     " entries for ", c.num_hidden_layers, " layers (use ParseGemma2Config)"));
  }
  // SANA-Video's text_encoder/ is a Gemma2Model (no prefix); a Gemma2ForCausalLM export nests it
  // under "model." and may carry the LM head, which an encoder never uses.
  const std::string p0 = s.Contains("model.embed_tokens.weight") ? "model." : "";
  if (!p0.empty()) s.Ignore("lm_head.");
  Gemma2Encoder m;
  m.config_ = c;
  const int64_t hidden = c.hidden_size, ffn = c.intermediate_size, d = c.head_dim;
  const int64_t q_width = c.num_attention_heads * d, kv_width = c.num_key_value_heads * d;
  std::vector<Tensor*> norms;
  // Matrices stay in the stored dtype (a view of the mapped file); Project converts them per use.
  m.embed_tokens_ = s.TakeStored(p0 + "embed_tokens.weight", {c.vocab_size, hidden});
  m.layers_.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat(p0, "layers.", i, ".");
    Layer& l = m.layers_[i];
    l.input_norm = s.Take(p + "input_layernorm.weight", {hidden});
    l.post_attention_norm = s.Take(p + "post_attention_layernorm.weight", {hidden});
    l.pre_feedforward_norm = s.Take(p + "pre_feedforward_layernorm.weight", {hidden});
    l.post_feedforward_norm = s.Take(p + "post_feedforward_layernorm.weight", {hidden});
    l.q_proj = s.TakeStored(p + "self_attn.q_proj.weight", {q_width, hidden});
    l.k_proj = s.TakeStored(p + "self_attn.k_proj.weight", {kv_width, hidden});
    l.v_proj = s.TakeStored(p + "self_attn.v_proj.weight", {kv_width, hidden});
    l.o_proj = s.TakeStored(p + "self_attn.o_proj.weight", {hidden, q_width});
    l.gate_proj = s.TakeStored(p + "mlp.gate_proj.weight", {ffn, hidden});
    l.up_proj = s.TakeStored(p + "mlp.up_proj.weight", {ffn, hidden});
    l.down_proj = s.TakeStored(p + "mlp.down_proj.weight", {hidden, ffn});
    for (Tensor* t : {&l.input_norm, &l.post_attention_norm, &l.pre_feedforward_norm,
                      &l.post_feedforward_norm}) {
      norms.push_back(t);
    }
  }
  m.final_norm_ = s.Take(p0 + "norm.weight", {hidden});
  norms.push_back(&m.final_norm_);
  REEL_RETURN_IF_ERROR(s.Finish());
  for (const Tensor* t : {&m.embed_tokens_}) m.parameter_bytes_ += static_cast<int64_t>(t->bytes());
  for (const Layer& l : m.layers_) {
    for (const Tensor* t : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj,
                            &l.down_proj, &l.input_norm, &l.post_attention_norm,
                            &l.pre_feedforward_norm, &l.post_feedforward_norm}) {
      m.parameter_bytes_ += static_cast<int64_t>(t->bytes());
    }
  }
  m.parameter_bytes_ += static_cast<int64_t>(m.final_norm_.bytes());
  for (Tensor* t : norms) {
    REEL_ASSIGN_OR_RETURN(Tensor folded, OnePlus(*t));
    *t = std::move(folded);
  }
  return m;
}

absl::StatusOr<Tensor> Gemma2Encoder::Forward(absl::Span<const int32_t> ids,
                                              absl::Span<const int32_t> attention_mask) const {
  const Gemma2Config& c = config_;
  const int64_t length = static_cast<int64_t>(ids.size()), hidden = c.hidden_size;
  if (length == 0) return absl::InvalidArgumentError("Gemma-2 encoder: no tokens");
  if (attention_mask.size() != ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("Gemma-2 encoder: ", ids.size(), " ids but ",
                                                   attention_mask.size(), " mask entries"));
  }
  bool padded = false;
  std::vector<float> key_mask(length);
  for (int64_t i = 0; i < length; ++i) {
    if (ids[i] < 0 || ids[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("Gemma-2 encoder: token id ", ids[i],
                                                     " at position ", i, " is outside [0, ",
                                                     c.vocab_size, ")"));
    }
    if (attention_mask[i] != 0 && attention_mask[i] != 1) {
      return absl::InvalidArgumentError(absl::StrCat("Gemma-2 encoder: attention_mask[", i, "] is ",
                                                     attention_mask[i], ", expected 0 or 1"));
    }
    key_mask[i] = static_cast<float>(attention_mask[i]);
    padded |= attention_mask[i] == 0;
  }

  // Embedding × sqrt(hidden_size), the factor rounded to the activations' dtype (f32) first.
  const float normalizer = static_cast<float>(std::sqrt(static_cast<double>(hidden)));
  REEL_ASSIGN_OR_RETURN(Tensor x, Tensor::Empty({length, hidden}));
  for (int64_t i = 0; i < length; ++i) {
    REEL_ASSIGN_OR_RETURN(Tensor stored, embed_tokens_.Slice(0, ids[i], ids[i] + 1));
    REEL_ASSIGN_OR_RETURN(Tensor row, ops::Cast(stored, DType::kF32));
    const float* in = row.data<float>();
    float* out = x.data<float>() + i * hidden;
    for (int64_t e = 0; e < hidden; ++e) out[e] = in[e] * normalizer;
  }
  Tensor cos, sin;
  REEL_RETURN_IF_ERROR(RopeTables(length, c.head_dim, c.rope_theta, cos, sin));
  REEL_ASSIGN_OR_RETURN(Tensor mask, Tensor::FromVector({length}, key_mask));

  ops::CausalAttentionParams attn;
  attn.heads = c.num_attention_heads;
  attn.kv_heads = c.num_key_value_heads;
  attn.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.query_pre_attn_scalar)));
  attn.softcap = c.attn_logit_softcapping;
  const float eps = c.rms_norm_eps;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const Layer& l = layers_[i];
    attn.window = c.layer_is_sliding[i] ? c.sliding_window : 0;
    REEL_ASSIGN_OR_RETURN(Tensor h, Norm(x, eps, l.input_norm));
    REEL_ASSIGN_OR_RETURN(Tensor q, Project(h, l.q_proj));
    REEL_ASSIGN_OR_RETURN(Tensor k, Project(h, l.k_proj));
    REEL_ASSIGN_OR_RETURN(Tensor v, Project(h, l.v_proj));
    REEL_ASSIGN_OR_RETURN(q, ops::RopeApplyHalf(q, cos, sin, c.num_attention_heads));
    REEL_ASSIGN_OR_RETURN(k, ops::RopeApplyHalf(k, cos, sin, c.num_key_value_heads));
    REEL_ASSIGN_OR_RETURN(Tensor a,
                          ops::CausalSoftmaxAttention(q, k, v, padded ? &mask : nullptr, attn));
    REEL_ASSIGN_OR_RETURN(Tensor o, Project(a, l.o_proj));
    REEL_ASSIGN_OR_RETURN(o, Norm(o, eps, l.post_attention_norm));
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, x, o));

    // GeGLU: down(gelu_tanh(gate(h)) · up(h)).
    REEL_ASSIGN_OR_RETURN(h, Norm(x, eps, l.pre_feedforward_norm));
    REEL_ASSIGN_OR_RETURN(Tensor gate, Project(h, l.gate_proj));
    REEL_ASSIGN_OR_RETURN(gate, ops::Activate(gate, ops::Activation::kGeluTanh));
    REEL_ASSIGN_OR_RETURN(Tensor up, Project(h, l.up_proj));
    REEL_ASSIGN_OR_RETURN(Tensor gated, ops::Mul(gate, up));
    REEL_ASSIGN_OR_RETURN(Tensor f, Project(gated, l.down_proj));
    REEL_ASSIGN_OR_RETURN(f, Norm(f, eps, l.post_feedforward_norm));
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, x, f));
  }
  return Norm(x, eps, final_norm_);
}

}  // namespace reel
