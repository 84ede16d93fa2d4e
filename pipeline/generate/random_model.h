#pragma once
// A complete model directory (config.json, tokenizer.json, transformer/text_encoder/vae
// safetensors) with random weights and tiny sizes: what the service, CLI and benchmark tests render
// with when they need the whole pipeline but not a trained model. The loaders' own weight lists
// define what is written.
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace reel {

struct RandomModelOptions {
  uint32_t seed = 1;
  int width = 32, height = 32, frames = 8;  // the video defaults written into config.json
  double fps = 8.0;
  int steps = 2;
};

absl::Status WriteRandomModel(const std::string& dir, const RandomModelOptions& options = {});

}  // namespace reel
