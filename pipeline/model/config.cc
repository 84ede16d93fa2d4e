#include "pipeline/model/config.h"

#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/model/json_fields.h"

namespace reel {

const char* AttentionKindName(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::kLinear:
      return "linear";
    case AttentionKind::kSparseLinear:
      return "sparse_linear";
    case AttentionKind::kSoftmax:
      return "softmax";
  }
  return "unknown";
}

absl::StatusOr<DitConfig> ParseDitConfig(const nlohmann::json& j) {
  DitConfig c;
  JsonFields f(j, "config.json transformer");
  std::vector<int> patch = {c.patch_size[0], c.patch_size[1], c.patch_size[2]};
  std::string temporal = "causal";
  f.Required("in_channels", c.in_channels);
  f.Required("out_channels", c.out_channels);
  f.Optional("patch_size", patch);
  f.Required("hidden_size", c.hidden_size);
  f.Required("num_layers", c.num_layers);
  f.Required("num_heads", c.num_heads);
  f.Required("head_dim", c.head_dim);
  f.Required("cross_num_heads", c.cross_num_heads);
  f.Required("cross_head_dim", c.cross_head_dim);
  f.Required("caption_dim", c.caption_dim);
  f.Required("ffn_hidden", c.ffn_hidden);
  f.Optional("norm_eps", c.norm_eps);
  f.Optional("qk_norm_eps", c.qk_norm_eps);
  f.Optional("caption_norm_eps", c.caption_norm_eps);
  f.Optional("out_norm_eps", c.out_norm_eps);
  f.Optional("attn_eps", c.attn_eps);
  f.Optional("rope_theta", c.rope_theta);
  f.Required("temporal_conv", temporal);
  std::string attention = "linear";
  f.Optional("attention", attention);
  f.Optional("block_frames", c.block_frames);
  f.Optional("attention_window", c.attention_window);
  f.Optional("sla_topk", c.sla_topk);
  f.Optional("sla_tile_q", c.sla_tile_q);
  f.Optional("sla_tile_k", c.sla_tile_k);
  f.Optional("rope_max_seq_len", c.rope_max_seq_len);
  if (patch.size() != 3 || patch[0] < 1 || patch[1] < 1 || patch[2] < 1) {
    f.Error("'patch_size' must be three positive integers [t, h, w]");
  } else {
    c.patch_size = {patch[0], patch[1], patch[2]};
  }
  if (temporal == "causal") {
    c.temporal_conv = TemporalConvMode::kCausal;
  } else if (temporal == "centered") {
    c.temporal_conv = TemporalConvMode::kCentered;
    if (j.is_object() && j.contains("block_frames")) {
      f.Error(
          "'block_frames' is for causal models; a centered temporal conv is bidirectional "
          "(sampled as one full sequence)");
    }
  } else {
    f.Error(absl::StrCat("'temporal_conv' is '", temporal, "', expected causal or centered"));
  }
  if (attention == "linear") {
    c.attention = AttentionKind::kLinear;
  } else if (attention == "sparse_linear") {
    c.attention = AttentionKind::kSparseLinear;
  } else if (attention == "softmax") {
    c.attention = AttentionKind::kSoftmax;
  } else {
    f.Error(absl::StrCat("'attention' is '", attention,
                         "', expected linear, sparse_linear or softmax"));
  }
  if (c.attention_window < 0) f.Error("'attention_window' must be >= 0");
  if (!(c.sla_topk > 0.0f && c.sla_topk <= 1.0f)) f.Error("'sla_topk' must be in (0, 1]");
  if (c.sla_tile_q < 1 || c.sla_tile_k < 1) f.Error("'sla_tile_q' and 'sla_tile_k' must be >= 1");
  if (c.num_heads * c.head_dim != c.hidden_size) f.Error("num_heads * head_dim != hidden_size");
  if (c.cross_num_heads * c.cross_head_dim != c.hidden_size) {
    f.Error("cross_num_heads * cross_head_dim != hidden_size");
  }
  if (c.head_dim % 2 != 0 || c.head_dim < 6) f.Error("head_dim must be even and >= 6 (3D RoPE)");
  if (c.in_channels <= 0 || c.out_channels <= 0 || c.num_layers <= 0 || c.ffn_hidden <= 0 ||
      c.caption_dim <= 0 || c.block_frames <= 0 || c.rope_max_seq_len <= 0) {
    f.Error("sizes must be positive");
  }
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

std::string DescribeAttention(const DitConfig& c) {
  const std::string window = c.attention_window == 0
                                 ? "every earlier block"
                                 : absl::StrCat("window ", c.attention_window, " blocks");
  switch (c.attention) {
    case AttentionKind::kLinear:
      return "linear";
    case AttentionKind::kSoftmax:
      return absl::StrCat("softmax: ", window);
    case AttentionKind::kSparseLinear:
      if (c.attention_window == 0) return "sparse_linear: window 0 (pure linear)";
      return absl::StrCat("sparse_linear: ", window, ", top-k ", c.sla_topk, " of ", c.sla_tile_q,
                          "x", c.sla_tile_k, "-token tiles");
  }
  return "unknown";
}

absl::StatusOr<DitConfig> WithAttentionOverrides(const DitConfig& model,
                                                 const AttentionOverrides& o) {
  DitConfig c = model;
  const bool exact = model.attention != AttentionKind::kLinear;
  if (o.attention_window >= 0) {
    if (!exact) {
      return absl::InvalidArgumentError(
          "attention_window: the model's attention is linear (it has no exact branch)");
    }
    if (o.attention_window > kMaxAttentionWindow) {
      return absl::InvalidArgumentError(absl::StrCat("attention_window ", o.attention_window,
                                                     " is above the limit of ", kMaxAttentionWindow,
                                                     " blocks"));
    }
    c.attention_window = o.attention_window;
  }
  if (o.sla_topk >= 0.0f) {
    if (model.attention != AttentionKind::kSparseLinear) {
      return absl::InvalidArgumentError(absl::StrCat("sla_topk: the model's attention is ",
                                                     AttentionKindName(model.attention),
                                                     ", not sparse_linear"));
    }
    if (!(o.sla_topk > 0.0f && o.sla_topk <= 1.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sla_topk ", o.sla_topk, " is outside (0, 1]"));
    }
    c.sla_topk = o.sla_topk;
  }
  return c;
}

absl::StatusOr<SamplerConfig> ParseSamplerConfig(const nlohmann::json& j) {
  SamplerConfig c;
  JsonFields f(j, "config.json sampler");
  f.Optional("flow_shift", c.flow_shift);
  f.Optional("steps", c.steps);
  f.Optional("cfg_scale", c.cfg_scale);
  f.Optional("solver", c.solver);
  f.Optional("num_train_timesteps", c.num_train_timesteps);
  if (c.solver != "euler" && c.solver != "dpm++2m") {
    f.Error(absl::StrCat("'solver' is '", c.solver, "', expected euler or dpm++2m"));
  }
  if (c.steps <= 0) f.Error("'steps' must be positive");
  if (c.flow_shift <= 0) f.Error("'flow_shift' must be positive");
  if (c.num_train_timesteps < 0) f.Error("'num_train_timesteps' must be >= 0");
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& j) {
  ModelConfig m;
  JsonFields f(j, "config.json");
  nlohmann::json transformer, sampler = nlohmann::json::object();
  f.Optional("name", m.name);
  f.Required("transformer", transformer);
  f.Optional("sampler", sampler);
  f.Optional("vae", m.vae);
  f.Optional("text_encoder", m.text_encoder);
  f.Optional("video", m.video);
  f.Optional("cache", m.cache);
  nlohmann::json train;  // training provenance; not used by inference
  f.Optional("train", train);
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  absl::StatusOr<DitConfig> dit = ParseDitConfig(transformer);
  if (!dit.ok()) return dit.status();
  absl::StatusOr<SamplerConfig> samp = ParseSamplerConfig(sampler);
  if (!samp.ok()) return samp.status();
  m.transformer = *dit;
  m.sampler = *samp;
  return m;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no model config at '", path, "'"));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  absl::StatusOr<ModelConfig> m = ParseModelConfig(j);
  if (!m.ok())
    return absl::Status(m.status().code(), absl::StrCat(path, ": ", m.status().message()));
  return m;
}

}  // namespace reel
