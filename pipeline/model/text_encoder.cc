#include "pipeline/model/text_encoder.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "pipeline/model/json_fields.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<TextEncoderConfig> ParseTextEncoderConfig(const nlohmann::json& j) {
  TextEncoderConfig c;
  JsonFields f(j, "config.json text_encoder");
  std::string type;
  f.Required("type", type);
  f.Required("vocab_size", c.vocab_size);
  f.Required("dim", c.dim);
  f.Required("num_layers", c.num_layers);
  f.Required("num_heads", c.num_heads);
  f.Required("mlp_hidden", c.mlp_hidden);
  f.Required("max_tokens", c.max_tokens);
  f.Optional("norm_eps", c.norm_eps);
  if (j.is_object() && j.contains("type") && type != "reel-words-transformer") {
    f.Error(absl::StrCat("'type' is '", type, "'; this engine supports: reel-words-transformer"));
  }
  if (c.vocab_size <= 0 || c.dim <= 0 || c.num_layers <= 0 || c.num_heads <= 0 ||
      c.mlp_hidden <= 0 || c.max_tokens <= 0) {
    f.Error("sizes must be positive");
  } else if (c.dim % c.num_heads != 0) {
    f.Error("dim must be a multiple of num_heads");
  }
  if (!(c.norm_eps > 0.0f)) f.Error("'norm_eps' must be positive");
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

absl::StatusOr<TextEncoder> TextEncoder::Load(const TextEncoderConfig& c, WeightStore& s) {
  TextEncoder m;
  m.config_ = c;
  const int64_t d = c.dim, hidden = c.mlp_hidden;
  m.token_embedding_ = s.Take("token_embedding.weight", {c.vocab_size, d});
  m.position_embedding_ = s.Take("position_embedding", {c.max_tokens, d});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = absl::StrCat("layers.", i, ".");
    Layer l;
    l.norm1_w = s.Take(p + "norm1.weight", {d});
    l.norm1_b = s.Take(p + "norm1.bias", {d});
    l.q_w = s.Take(p + "q.weight", {d, d});
    l.q_b = s.Take(p + "q.bias", {d});
    l.k_w = s.Take(p + "k.weight", {d, d});
    l.k_b = s.Take(p + "k.bias", {d});
    l.v_w = s.Take(p + "v.weight", {d, d});
    l.v_b = s.Take(p + "v.bias", {d});
    l.o_w = s.Take(p + "o.weight", {d, d});
    l.o_b = s.Take(p + "o.bias", {d});
    l.norm2_w = s.Take(p + "norm2.weight", {d});
    l.norm2_b = s.Take(p + "norm2.bias", {d});
    l.fc1_w = s.Take(p + "fc1.weight", {hidden, d});
    l.fc1_b = s.Take(p + "fc1.bias", {hidden});
    l.fc2_w = s.Take(p + "fc2.weight", {d, hidden});
    l.fc2_b = s.Take(p + "fc2.bias", {d});
    m.layers_.push_back(std::move(l));
  }
  m.final_w_ = s.Take("final_norm.weight", {d});
  m.final_b_ = s.Take("final_norm.bias", {d});
  REEL_RETURN_IF_ERROR(s.Finish());
  return m;
}

absl::StatusOr<TextEncoder> TextEncoder::Placed(const Placement& placement) const {
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(placement.device));
  TextEncoder m;
  m.config_ = config_;
  m.placement_ = placement;
  m.token_embedding_ = token_embedding_;
  m.position_embedding_ = position_embedding_;
  struct Member {
    Tensor Layer::*field;
    bool projection;
  };
  static constexpr Member kMembers[] = {
      {&Layer::norm1_w, false}, {&Layer::norm1_b, false}, {&Layer::q_w, true},
      {&Layer::q_b, false},     {&Layer::k_w, true},      {&Layer::k_b, false},
      {&Layer::v_w, true},      {&Layer::v_b, false},     {&Layer::o_w, true},
      {&Layer::o_b, false},     {&Layer::norm2_w, false}, {&Layer::norm2_b, false},
      {&Layer::fc1_w, true},    {&Layer::fc1_b, false},   {&Layer::fc2_w, true},
      {&Layer::fc2_b, false}};
  for (const Layer& l : layers_) {
    Layer placed;
    for (const Member& member : kMembers) {
      REEL_ASSIGN_OR_RETURN(placed.*member.field,
                            PlaceWeight(l.*member.field, placement, member.projection));
    }
    m.layers_.push_back(std::move(placed));
  }
  REEL_ASSIGN_OR_RETURN(m.final_w_, PlaceWeight(final_w_, placement, /*projection=*/false));
  REEL_ASSIGN_OR_RETURN(m.final_b_, PlaceWeight(final_b_, placement, /*projection=*/false));
  // Uploads are queued on the device's stream: wait, so a failure shows here, not in an Encode.
  REEL_RETURN_IF_ERROR(Synchronize(placement.device));
  return m;
}

absl::StatusOr<Tensor> TextEncoder::Encode(const TokenizedPrompt& prompt) const {
  const TextEncoderConfig& c = config_;
  const int64_t len = c.max_tokens, d = c.dim;
  if (static_cast<int64_t>(prompt.ids.size()) != len ||
      static_cast<int64_t>(prompt.mask.size()) != len) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenized prompt has ", prompt.ids.size(), " ids and ", prompt.mask.size(),
                     " mask entries; the text encoder ", "expects max_tokens = ", len));
  }
  bool any = false;
  for (int64_t p = 0; p < len; ++p) {
    const int id = prompt.ids[p];
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " at position ", p,
                                                     " outside the vocabulary of ", c.vocab_size,
                                                     " (tokenizer and text encoder do not match)"));
    }
    any |= prompt.mask[p] != 0.0f;
  }
  // Every query needs one valid key (the tokenizer always keeps [bos]).
  if (!any) return absl::InvalidArgumentError("prompt mask has no valid token");

  // x[p] = token_embedding[ids[p]] + position_embedding[p], looked up on the host (the tables stay
  // there), then moved to the encoder's device once.
  REEL_ASSIGN_OR_RETURN(Tensor host_x, position_embedding_.Clone());
  float* xd = host_x.data<float>();
  const float* table = token_embedding_.data<float>();
  for (int64_t p = 0; p < len; ++p) {
    const float* row = table + static_cast<int64_t>(prompt.ids[p]) * d;
    for (int64_t j = 0; j < d; ++j) xd[p * d + j] += row[j];
  }
  REEL_ASSIGN_OR_RETURN(Tensor x, ToDevice(host_x, device()));
  REEL_ASSIGN_OR_RETURN(const Tensor host_mask, Tensor::FromVector({len}, prompt.mask));
  REEL_ASSIGN_OR_RETURN(const Tensor mask, ToDevice(host_mask, device()));
  const float scale = 1.0f / std::sqrt(static_cast<float>(d / c.num_heads));
  for (const Layer& l : layers_) {
    REEL_ASSIGN_OR_RETURN(Tensor h, ops::LayerNorm(x, c.norm_eps, &l.norm1_w, &l.norm1_b));
    REEL_ASSIGN_OR_RETURN(Tensor q, ops::Linear(h, l.q_w, &l.q_b));
    REEL_ASSIGN_OR_RETURN(Tensor k, ops::Linear(h, l.k_w, &l.k_b));
    REEL_ASSIGN_OR_RETURN(Tensor v, ops::Linear(h, l.v_w, &l.v_b));
    REEL_ASSIGN_OR_RETURN(Tensor a, ops::SoftmaxAttention(q, k, v, &mask, c.num_heads, scale));
    REEL_ASSIGN_OR_RETURN(Tensor o, ops::Linear(a, l.o_w, &l.o_b));
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, x, o));
    REEL_ASSIGN_OR_RETURN(Tensor h2, ops::LayerNorm(x, c.norm_eps, &l.norm2_w, &l.norm2_b));
    REEL_ASSIGN_OR_RETURN(Tensor u, ops::Linear(h2, l.fc1_w, &l.fc1_b));
    REEL_ASSIGN_OR_RETURN(u, ops::Activate(u, ops::Activation::kGeluTanh));
    REEL_ASSIGN_OR_RETURN(Tensor f, ops::Linear(u, l.fc2_w, &l.fc2_b));
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, x, f));
  }
  return ops::LayerNorm(x, c.norm_eps, &final_w_, &final_b_);
}

}  // namespace reel
