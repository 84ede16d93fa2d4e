#pragma once
// A loaded model's pieces as the renderer uses them, whatever the directory layout: reel's own
// (config.json + *.safetensors, reel_parts.h) or the diffusers SANA-Video checkpoint
// (model_index.json + component directories, sana_parts.h).
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/cache/cache_options.h"
#include "pipeline/generate/caption_encoder.h"
#include "pipeline/generate/latent_decoder.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"

namespace reel {

struct VideoDefaults {
  int width = 64, height = 64, frames = 16;
  double fps = 8.0;
  std::string negative_prompt;  // used when a request leaves it empty
};

struct RendererParts {
  std::string name;
  DitConfig transformer;
  SamplerConfig sampler;
  VideoDefaults defaults;
  CacheOptions default_cache;
  Dit dit;
  int64_t dit_parameter_bytes = 0;
  std::unique_ptr<CaptionEncoder> text;
  std::unique_ptr<LatentDecoder> vae;
};

}  // namespace reel
