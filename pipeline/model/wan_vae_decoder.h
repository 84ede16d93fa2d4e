#pragma once
// The Wan2.1 causal video VAE decoder (diffusers AutoencoderKLWan, decoder half; WAN_VAE.md):
// normalized latents (z_dim, n, h, w) → RGB (3, 1 + 4(n − 1), 8h, 8w) in [−1, 1] for the released
// config. Decodes chunk by chunk with per-conv caches of the last 2 input frames, exactly as
// diffusers' _decode does one latent frame per call, so memory stays constant over a video of any
// length and any chunking gives the same pixels as decoding everything at once.
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/weights.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// The fields of diffusers' AutoencoderKLWan config that change decoding; defaults are diffusers'
// __init__ defaults (a missing field means the same to both). WAN_VAE.md lists every field.
struct WanVaeConfig {
  int base_dim = 96;
  int decoder_base_dim = 96;  // diffusers: null → base_dim (resolved by the parser)
  int z_dim = 16;
  std::vector<int> dim_mult = {1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<bool> temperal_downsample = {false, true, true};  // the decoder uses it reversed
  int out_channels = 3;
  std::vector<float> latents_mean, latents_std;  // z_dim each

  // 2^(len(dim_mult) − 1): one ×2 spatial up-sampler per up block but the last.
  int spatial_factor() const;
  // 2^(number of true in temperal_downsample): one ×2 time up-sampler per true.
  int temporal_factor() const;
};

// vae/config.json as diffusers writes it. Every field is used, or known to be irrelevant to
// decoding (listed in WAN_VAE.md with the reason), or refused by name with the reason (e.g.
// is_residual: the Wan2.2 decoder; patch_size > 1; non-empty attn_scales).
absl::StatusOr<WanVaeConfig> ParseWanVaeConfig(const nlohmann::json& j);

// The per-video state of a decode: for every conv with a temporal kernel of 3, the last 2 frames of
// its input (cin, 2, height, width) at that conv's resolution, zeros at the start of a video.
struct WanVaeStream {
  int64_t latent_height = 0;
  int64_t latent_width = 0;
  int64_t frames_decoded = 0;  // latent frames so far
  std::vector<Tensor> caches;  // one per cached conv, in decoder order
};

class WanVaeDecoder {
 public:
  // diffusers key names: post_quant_conv.*, decoder.* (conv_in, mid_block.resnets/attentions,
  // up_blocks.N.resnets/upsamplers, norm_out, conv_out). encoder.* and quant_conv.* are marked used
  // without loading: text-to-video only decodes. Anything else (or a missing or mis-shaped weight)
  // is an error naming the weight.
  static absl::StatusOr<WanVaeDecoder> Load(const WanVaeConfig& config, WeightStore& weights);

  absl::StatusOr<WanVaeStream> NewStream(int64_t latent_height, int64_t latent_width) const;

  // latents (z_dim, n, h, w) NORMALIZED as the DiT produces them, n >= 1 latent frames following
  // the ones this stream has decoded. De-normalizes as the official pipeline does (z·std + mean),
  // decodes exactly as diffusers' _decode (one latent frame per decoder call with the feature
  // cache; the first latent frame of a video yields 1 frame, every later one temporal_factor()),
  // updates the caches. → (out_channels, frames, h·spatial_factor(), w·spatial_factor()) clamped to
  // [−1, 1].
  absl::StatusOr<Tensor> Decode(WanVaeStream& stream, const Tensor& latents) const;
  // The same without the final clamp (for tests against the reference's raw output).
  absl::StatusOr<Tensor> DecodeUnclamped(WanVaeStream& stream, const Tensor& latents) const;

  const WanVaeConfig& config() const { return config_; }
  int64_t cache_bytes(const WanVaeStream& stream) const;
  // Pixel frames of a video of `latent_frames` latent frames: 1 + temporal_factor()·(n − 1).
  int64_t frames_for_latents(int64_t latent_frames) const;

  // A causal conv: weight reshaped to (cout, cin·kt·kk·kk).
  struct Conv {
    Tensor weight, bias;
    int64_t cin = 0, cout = 0;
    int kt = 1, kk = 1;
    int cache = -1;  // index into WanVaeStream::caches, or −1 (kt = 1)
  };
  struct ResBlock {
    Tensor norm1, norm2;  // gamma (cin), (cout)
    Conv conv1, conv2;
    Conv shortcut;  // 1x1x1 when cin != cout (cout == 0 otherwise)
  };
  struct Attention {
    Tensor norm;  // gamma (c)
    Conv qkv, proj;
  };
  struct UpBlock {
    std::vector<ResBlock> resnets;
    bool time_up = false;   // upsample3d: time_conv first (not on a video's first latent frame)
    bool space_up = false;  // upsample2d/3d: nearest ×2 then a 3x3 conv (resample.1)
    Conv time_conv, space_conv;
  };

 private:
  WanVaeConfig config_;
  Conv post_quant_, conv_in_, conv_out_;
  ResBlock mid_res0_, mid_res1_;
  Attention mid_attn_;
  std::vector<UpBlock> up_blocks_;
  Tensor norm_out_;
  // Input channels and resolution (in multiples of the latent's) of each cached conv, in
  // cache-index order: what NewStream allocates.
  struct CacheSpec {
    int64_t channels = 0, scale = 1;
  };
  std::vector<CacheSpec> cache_specs_;
};

}  // namespace reel
