#pragma once
// config.json of a model directory (see README.md). Parsing is strict: an unknown key is an error,
// so a typo never silently falls back to a default.
#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/attention_limits.h"

namespace reel {

enum class TemporalConvMode { kCausal, kCentered };

// The self-attention of the blocks (ARCHITECTURE.md §3, README "Attention kinds"): ReLU linear
// attention (SANA-Video); sparse-linear attention (SLA: the linear attention over every key plus an
// exact softmax branch over the critical key tiles of a window of recent blocks, entering through a
// zero-initialized projection); full softmax attention (the quality baseline). Config names:
// "linear", "sparse_linear", "softmax".
enum class AttentionKind { kLinear, kSparseLinear, kSoftmax };
const char* AttentionKindName(AttentionKind kind);

struct DitConfig {
  int in_channels = 0;
  int out_channels = 0;
  std::array<int, 3> patch_size = {1, 2, 2};  // (t, h, w)
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int head_dim = 0;
  int cross_num_heads = 0;
  int cross_head_dim = 0;
  int caption_dim = 0;
  int ffn_hidden = 0;
  float norm_eps = 1e-6f;     // the blocks' two LayerNorms
  float qk_norm_eps = 1e-5f;  // RMSNorm of q and k (self- and cross-attention)
  // diffusers hard-codes these two apart from norm_eps (caption_norm: 1e-5, norm_out: 1e-6), so
  // they are fields of their own: a config that changes norm_eps does not move them.
  float caption_norm_eps = 1e-5f;
  float out_norm_eps = 1e-6f;
  float attn_eps = 1e-15f;
  float rope_theta = 10000.0f;
  // Required in config.json: causal (block-autoregressive, LongSANA-style) or centered (the
  // official bidirectional model). Left out, the two would compute different models.
  TemporalConvMode temporal_conv = TemporalConvMode::kCausal;
  AttentionKind attention = AttentionKind::kLinear;
  int block_frames = 1;  // latent token-frames per block-causal block (causal models only)
  // Kinds with an exact branch. attention_window: video blocks it sees, the current one included
  // (0: `softmax` sees every earlier block — memory grows with the video —, `sparse_linear` has no
  // exact branch and is pure linear attention). sla_topk: share of key tiles each query tile keeps.
  // sla_tile_q/k: tile sizes in tokens (with blocks, the largest divisor of a block's tokens not
  // above them, so that tiles never straddle blocks).
  int attention_window = 2;
  float sla_topk = 0.1f;
  int sla_tile_q = 64;
  int sla_tile_k = 64;
  // Positions of the RoPE tables (diffusers rope_max_seq_len): a sequence may have at most this
  // many token frames, rows and columns.
  int rope_max_seq_len = 1024;

  // A centered temporal conv sees the next frame, so such a model is sampled as one full sequence
  // (all latent frames together); a causal one block by block with the carried state.
  bool bidirectional() const { return temporal_conv == TemporalConvMode::kCentered; }
};

inline constexpr int kMaxAttentionWindow = attention_limits::kMaxWindow;

// The exact branch's settings a request may change (0 / negative: the model's).
struct AttentionOverrides {
  int attention_window = -1;
  float sla_topk = -1.0f;
};
// One line for users, e.g. "sparse_linear: window 2 blocks, top-k 0.25 of 16x16-token tiles".
std::string DescribeAttention(const DitConfig& config);
// Checks and applies overrides to a copy of the model's config (INVALID_ARGUMENT names the field).
absl::StatusOr<DitConfig> WithAttentionOverrides(const DitConfig& model,
                                                 const AttentionOverrides& overrides);

struct SamplerConfig {
  float flow_shift = 3.0f;
  // 0: reel's σ schedule (σ_0 = 1). N > 0: diffusers' DPMSolverMultistepScheduler with
  // use_flow_sigmas over N training timesteps (σ_0 = shift(1 − 1/N), the model sees the integer
  // timestep ⌊1000·σ⌋); pipeline/sampler/schedule.h.
  int num_train_timesteps = 0;
  int steps = 20;
  float cfg_scale = 4.5f;
  std::string solver = "dpm++2m";  // "euler" | "dpm++2m"
};

struct ModelConfig {
  std::string name;
  DitConfig transformer;
  SamplerConfig sampler;
  nlohmann::json vae;           // parsed by the VAE (pipeline/model/vae_config.h)
  nlohmann::json text_encoder;  // parsed by the text encoder
  nlohmann::json video;         // default output settings
  nlohmann::json cache;         // default feature caching, parsed by pipeline/cache
};

absl::StatusOr<DitConfig> ParseDitConfig(const nlohmann::json& j);
absl::StatusOr<SamplerConfig> ParseSamplerConfig(const nlohmann::json& j);
absl::StatusOr<ModelConfig> ParseModelConfig(const nlohmann::json& j);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

}  // namespace reel
