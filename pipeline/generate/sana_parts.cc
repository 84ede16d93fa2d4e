#include "pipeline/generate/sana_parts.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/model/checkpoint_weights.h"
#include "pipeline/model/diffusers_config.h"
#include "pipeline/model/gemma2_encoder.h"
#include "pipeline/model/sana_prompt.h"
#include "pipeline/model/sentencepiece_tokenizer.h"
#include "pipeline/model/wan_vae_decoder.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Gemma-2 + the official prompt processing: the positive prompt gets the complex human
// instruction prefix and the [0] + last-299 token selection, the negative prompt neither.
class SanaCaptionEncoder final : public CaptionEncoder {
 public:
  SanaCaptionEncoder(Gemma2Encoder encoder, SentencePieceTokenizer tokenizer, int64_t bytes)
      : encoder_(std::move(encoder)), tokenizer_(std::move(tokenizer)), bytes_(bytes) {}
  int dim() const override { return encoder_.config().hidden_size; }
  int64_t parameter_bytes() const override { return bytes_; }
  absl::StatusOr<EncodedCaption> Encode(const std::string& text, bool negative) const override {
    SanaPromptOptions options;
    if (!negative) options.complex_human_instruction = SanaVideoComplexHumanInstruction();
    REEL_ASSIGN_OR_RETURN(SanaCaption c, EncodeSanaPrompt(encoder_, tokenizer_, text, options));
    return EncodedCaption{std::move(c.hidden), std::move(c.mask)};
  }

 private:
  Gemma2Encoder encoder_;
  SentencePieceTokenizer tokenizer_;
  int64_t bytes_;
};

class WanStream final : public LatentStream {
 public:
  explicit WanStream(WanVaeStream s) : stream(std::move(s)) {}
  WanVaeStream stream;
};

class WanLatentDecoder final : public LatentDecoder {
 public:
  WanLatentDecoder(WanVaeDecoder vae, int64_t bytes) : vae_(std::move(vae)), bytes_(bytes) {}
  int latent_channels() const override { return vae_.config().z_dim; }
  int spatial_factor() const override { return vae_.config().spatial_factor(); }
  int64_t PixelFrames(int64_t latent_frames) const override {
    return vae_.frames_for_latents(latent_frames);
  }
  absl::StatusOr<std::unique_ptr<LatentStream>> NewStream(int64_t h, int64_t w) const override {
    REEL_ASSIGN_OR_RETURN(WanVaeStream s, vae_.NewStream(h, w));
    return std::make_unique<WanStream>(std::move(s));
  }
  absl::StatusOr<Tensor> Decode(LatentStream& stream, const Tensor& latents) const override {
    return vae_.Decode(static_cast<WanStream&>(stream).stream, latents);
  }
  int64_t parameter_bytes() const override { return bytes_; }
  int64_t memory_bytes_per_pixel() const override {
    // The full-resolution stage: ~16 f32 tensors of (temporal_factor frames × base width) per
    // output pixel (as for reel's VAE, whose im2col buffers dominate the same way).
    const WanVaeConfig& c = vae_.config();
    return int64_t{16} * c.temporal_factor() * c.decoder_base_dim *
           static_cast<int64_t>(sizeof(float));
  }

 private:
  WanVaeDecoder vae_;
  int64_t bytes_;
};

absl::StatusOr<nlohmann::json> ComponentConfig(const std::string& dir, const char* component) {
  return ReadJsonFile(absl::StrCat(dir, "/", component, "/config.json"));
}

absl::StatusOr<RendererParts> Load(const std::string& dir) {
  RendererParts p;
  REEL_ASSIGN_OR_RETURN(nlohmann::json index_json, ReadJsonFile(dir + "/model_index.json"));
  REEL_ASSIGN_OR_RETURN(SanaVideoIndex index, ParseSanaVideoIndex(index_json));
  p.name = std::filesystem::path(dir).filename().string();
  if (p.name.empty()) p.name = std::filesystem::path(dir).parent_path().filename().string();

  // Every config first: a wrong field anywhere is reported before megabytes are mapped.
  REEL_ASSIGN_OR_RETURN(nlohmann::json tj, ComponentConfig(dir, "transformer"));
  int sample_size = 0;
  REEL_ASSIGN_OR_RETURN(p.transformer, ParseSanaVideoTransformerConfig(tj, &sample_size));
  REEL_ASSIGN_OR_RETURN(nlohmann::json sj, ComponentConfig(dir, "scheduler"));
  REEL_ASSIGN_OR_RETURN(p.sampler, ParseFlowDpmSchedulerConfig(sj));
  REEL_ASSIGN_OR_RETURN(nlohmann::json gj, ComponentConfig(dir, "text_encoder"));
  REEL_ASSIGN_OR_RETURN(Gemma2Config gc, ParseGemma2Config(gj));
  REEL_ASSIGN_OR_RETURN(nlohmann::json vj, ComponentConfig(dir, "vae"));
  REEL_ASSIGN_OR_RETURN(WanVaeConfig vc, ParseWanVaeConfig(vj));
  std::vector<std::string> mismatches;
  if (gc.hidden_size != p.transformer.caption_dim) {
    mismatches.push_back(absl::StrCat("text_encoder hidden_size ", gc.hidden_size,
                                      " != transformer caption_channels ",
                                      p.transformer.caption_dim));
  }
  if (vc.z_dim != p.transformer.in_channels || vc.z_dim != p.transformer.out_channels) {
    mismatches.push_back(absl::StrCat("vae z_dim ", vc.z_dim, " != transformer in/out_channels ",
                                      p.transformer.in_channels, "/", p.transformer.out_channels));
  }
  if (!mismatches.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": components disagree: ", absl::StrJoin(mismatches, "; ")));
  }

  // Then every component's weights, all problems of one component in one message.
  REEL_ASSIGN_OR_RETURN(WeightStore dit_weights, OpenComponentWeights(dir + "/transformer"));
  REEL_ASSIGN_OR_RETURN(p.dit, Dit::Load(p.transformer, dit_weights));
  p.dit_parameter_bytes = dit_weights.parameter_bytes();

  REEL_ASSIGN_OR_RETURN(SentencePieceTokenizer tokenizer,
                        SentencePieceTokenizer::Load(dir + "/tokenizer/tokenizer.model"));
  if (tokenizer.vocab_size() > gc.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": tokenizer.model has ", tokenizer.vocab_size(),
                     " pieces, more than the text encoder's vocab_size ", gc.vocab_size));
  }
  REEL_ASSIGN_OR_RETURN(WeightStore text_weights, OpenComponentWeights(dir + "/text_encoder"));
  REEL_ASSIGN_OR_RETURN(Gemma2Encoder gemma, Gemma2Encoder::Load(gc, text_weights));
  p.text = std::make_unique<SanaCaptionEncoder>(std::move(gemma), std::move(tokenizer),
                                                text_weights.parameter_bytes());

  REEL_ASSIGN_OR_RETURN(WeightStore vae_weights, OpenComponentWeights(dir + "/vae"));
  REEL_ASSIGN_OR_RETURN(WanVaeDecoder vae, WanVaeDecoder::Load(vc, vae_weights));
  p.vae = std::make_unique<WanLatentDecoder>(std::move(vae), vae_weights.parameter_bytes());

  const SanaVideoDefaults d =
      SanaVideoDefaultsFor(sample_size, p.transformer.patch_size[1], p.vae->spatial_factor());
  p.defaults.width = d.width;
  p.defaults.height = d.height;
  p.defaults.frames = d.frames;
  p.defaults.fps = d.fps;
  p.defaults.negative_prompt = d.negative_prompt;
  (void)index;
  return p;
}

}  // namespace

absl::StatusOr<RendererParts> LoadSanaVideoParts(const std::string& dir) { return Load(dir); }

}  // namespace reel
