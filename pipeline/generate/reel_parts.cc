#include "pipeline/generate/reel_parts.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "pipeline/model/json_fields.h"
#include "pipeline/model/text_encoder.h"
#include "pipeline/model/tokenizer.h"
#include "pipeline/model/vae_decoder.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

class ReelCaptionEncoder final : public CaptionEncoder {
 public:
  ReelCaptionEncoder(Tokenizer tokenizer, TextEncoder encoder, int dim, int64_t bytes)
      : tokenizer_(std::move(tokenizer)), encoder_(std::move(encoder)), dim_(dim), bytes_(bytes) {}
  int dim() const override { return dim_; }
  int64_t parameter_bytes() const override { return bytes_; }
  absl::StatusOr<EncodedCaption> Encode(const std::string& text, bool) const override {
    const TokenizedPrompt tokens = tokenizer_.Encode(text);
    EncodedCaption c;
    REEL_ASSIGN_OR_RETURN(c.hidden, encoder_.Encode(tokens));
    REEL_ASSIGN_OR_RETURN(
        const Tensor mask,
        Tensor::FromVector({static_cast<int64_t>(tokens.mask.size())}, tokens.mask));
    REEL_ASSIGN_OR_RETURN(c.mask, ToDevice(mask, encoder_.device()));
    return c;
  }
  absl::Status Place(const Placement& placement) override {
    REEL_ASSIGN_OR_RETURN(encoder_, encoder_.Placed(placement));
    return absl::OkStatus();
  }
  Device device() const override { return encoder_.device(); }

 private:
  Tokenizer tokenizer_;
  TextEncoder encoder_;
  int dim_;
  int64_t bytes_;
};

class ReelVaeStream final : public LatentStream {
 public:
  explicit ReelVaeStream(VaeStream s) : stream(std::move(s)) {}
  VaeStream stream;
};

class ReelLatentDecoder final : public LatentDecoder {
 public:
  ReelLatentDecoder(VaeDecoder vae, int64_t bytes) : vae_(std::move(vae)), bytes_(bytes) {}
  int latent_channels() const override { return vae_.config().latent_channels; }
  int spatial_factor() const override { return vae_.config().spatial_factor; }
  int64_t PixelFrames(int64_t latent_frames) const override {
    return latent_frames * vae_.config().temporal_factor;
  }
  absl::StatusOr<std::unique_ptr<LatentStream>> NewStream(int64_t h, int64_t w) const override {
    REEL_ASSIGN_OR_RETURN(VaeStream s, vae_.NewStream(h, w));
    return std::make_unique<ReelVaeStream>(std::move(s));
  }
  absl::StatusOr<Tensor> Decode(LatentStream& stream, const Tensor& latents) const override {
    return vae_.Decode(static_cast<ReelVaeStream&>(stream).stream, latents);
  }
  // Streams made before a Place keep their caches where they were: Decode refuses them.
  absl::Status Place(const Placement& placement) override {
    REEL_ASSIGN_OR_RETURN(vae_, vae_.Placed(placement));
    return absl::OkStatus();
  }
  Device device() const override { return vae_.device(); }
  int64_t parameter_bytes() const override { return bytes_; }
  int64_t memory_bytes_per_pixel() const override {
    // Measured for reel-tiny (peak RSS of `reel render`, 4 frames, 1 step, 1 thread: 197 / 374 /
    // 1089 MB at 128² / 256² / 512², i.e. 3.7 KB per pixel over ~140 MB): the full-resolution
    // stage dominates, ~14.5 float tensors of (pixel frames × channels[0]) per pixel (its 3×3×3
    // convolutions' im2col buffers). 16 leaves a margin for other models. Per latent frame decoded.
    constexpr int64_t kFullResolutionTensors = 16;
    const VaeConfig& c = vae_.config();
    return kFullResolutionTensors * c.temporal_factor * (c.channels.empty() ? 1 : c.channels[0]) *
           static_cast<int64_t>(sizeof(float));
  }

 private:
  VaeDecoder vae_;
  int64_t bytes_;
};

absl::StatusOr<VideoDefaults> ParseVideoDefaults(const nlohmann::json& j) {
  VideoDefaults v;
  if (j.is_null()) return v;
  JsonFields f(j, "config.json video");
  f.Optional("width", v.width);
  f.Optional("height", v.height);
  f.Optional("frames", v.frames);
  f.Optional("fps", v.fps);
  REEL_RETURN_IF_ERROR(f.Finish());
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CaptionEncoder>> LoadReelCaptionEncoder(
    const std::string& dir, const nlohmann::json& text_encoder_config) {
  REEL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::Load(dir + "/tokenizer.json"));
  REEL_ASSIGN_OR_RETURN(TextEncoderConfig tc, ParseTextEncoderConfig(text_encoder_config));
  if (tokenizer.vocab_size() != tc.vocab_size || tokenizer.max_tokens() != tc.max_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": tokenizer.json (", tokenizer.vocab_size(), " words, ", tokenizer.max_tokens(),
        " tokens) does not match text_encoder (", tc.vocab_size, ", ", tc.max_tokens, ")"));
  }
  REEL_ASSIGN_OR_RETURN(WeightStore weights, WeightStore::Open(dir + "/text_encoder.safetensors"));
  REEL_ASSIGN_OR_RETURN(TextEncoder encoder, TextEncoder::Load(tc, weights));
  return std::make_unique<ReelCaptionEncoder>(std::move(tokenizer), std::move(encoder), tc.dim,
                                              weights.parameter_bytes());
}

absl::StatusOr<std::unique_ptr<LatentDecoder>> LoadReelLatentDecoder(
    const std::string& dir, const nlohmann::json& vae_config) {
  REEL_ASSIGN_OR_RETURN(VaeConfig vc, ParseVaeConfig(vae_config));
  REEL_ASSIGN_OR_RETURN(WeightStore weights, WeightStore::Open(dir + "/vae.safetensors"));
  REEL_ASSIGN_OR_RETURN(VaeDecoder vae, VaeDecoder::Load(vc, weights));
  return std::make_unique<ReelLatentDecoder>(std::move(vae), weights.parameter_bytes());
}

absl::StatusOr<RendererParts> LoadReelParts(const std::string& dir) {
  RendererParts p;
  REEL_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  p.name = config.name.empty() ? std::filesystem::path(dir).filename().string() : config.name;
  p.transformer = config.transformer;
  p.sampler = config.sampler;
  REEL_ASSIGN_OR_RETURN(p.defaults, ParseVideoDefaults(config.video));
  REEL_ASSIGN_OR_RETURN(p.default_cache, ParseCacheConfig(config.cache));
  REEL_ASSIGN_OR_RETURN(WeightStore dit_weights,
                        WeightStore::Open(dir + "/transformer.safetensors"));
  REEL_ASSIGN_OR_RETURN(p.dit, Dit::Load(config.transformer, dit_weights));
  p.dit_parameter_bytes = dit_weights.parameter_bytes();
  REEL_ASSIGN_OR_RETURN(p.text, LoadReelCaptionEncoder(dir, config.text_encoder));
  if (p.text->dim() != config.transformer.caption_dim) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": text_encoder.dim ", p.text->dim(),
                                                   " != transformer.caption_dim ",
                                                   config.transformer.caption_dim));
  }
  REEL_ASSIGN_OR_RETURN(p.vae, LoadReelLatentDecoder(dir, config.vae));
  if (p.vae->latent_channels() != config.transformer.in_channels) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": vae.latent_channels ", p.vae->latent_channels(),
                     " != transformer.in_channels ", config.transformer.in_channels));
  }
  return p;
}

}  // namespace reel
