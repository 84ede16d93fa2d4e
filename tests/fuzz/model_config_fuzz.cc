// libFuzzer target for a model directory's config.json: the model section and the sections each
// checkpoint's loader parses (transformer, sampler, vae, text_encoder, cache), and a diffusers
// checkpoint's Gemma-2 text_encoder/config.json. Any byte string must give a config or an error
// status, never a crash, an uncaught exception or a leak.
#include <cstddef>
#include <cstdint>

#include "nlohmann/json.hpp"
#include "pipeline/cache/cache_options.h"
#include "pipeline/model/config.h"
#include "pipeline/model/gemma2_encoder.h"
#include "pipeline/model/text_encoder.h"
#include "pipeline/model/vae_decoder.h"

namespace {

// Each section parser on its own too: a document the model parser rejects early (say, no "name")
// would otherwise never reach the section parsers.
void ParseSections(const nlohmann::json& j) {
  for (const char* key : {"transformer", "sampler", "vae", "text_encoder", "cache"}) {
    const nlohmann::json& section = j.is_object() && j.contains(key) ? j.at(key) : j;
    (void)reel::ParseDitConfig(section);
    (void)reel::ParseSamplerConfig(section);
    (void)reel::ParseVaeConfig(section);
    (void)reel::ParseTextEncoderConfig(section);
    (void)reel::ParseCacheConfig(section);
    (void)reel::ParseGemma2Config(section);  // a diffusers checkpoint's text_encoder/config.json
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr,
                                                 /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  absl::StatusOr<reel::ModelConfig> config = reel::ParseModelConfig(j);
  if (config.ok()) {
    // What loading the model does next with the raw sections it kept.
    (void)reel::ParseVaeConfig(config->vae);
    (void)reel::ParseTextEncoderConfig(config->text_encoder);
    (void)reel::ParseCacheConfig(config->cache);
  }
  ParseSections(j);
  return 0;
}
