#pragma once
// reel's own text encoder (word tokenizer + small transformer) and causal VAE behind the
// renderer's CaptionEncoder / LatentDecoder (the models/reel-tiny layout: config.json sections
// text_encoder and vae, tokenizer.json, text_encoder.safetensors, vae.safetensors).
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/generate/caption_encoder.h"
#include "pipeline/generate/latent_decoder.h"
#include "pipeline/generate/parts.h"

namespace reel {

absl::StatusOr<std::unique_ptr<CaptionEncoder>> LoadReelCaptionEncoder(
    const std::string& dir, const nlohmann::json& text_encoder_config);
absl::StatusOr<std::unique_ptr<LatentDecoder>> LoadReelLatentDecoder(
    const std::string& dir, const nlohmann::json& vae_config);
// The whole models/reel-tiny-style directory.
absl::StatusOr<RendererParts> LoadReelParts(const std::string& dir);

}  // namespace reel
