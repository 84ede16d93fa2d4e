#pragma once
// The official SANA-Video checkpoint in diffusers layout (pipeline/model/CHECKPOINT.md):
// model_index.json, transformer/ (SanaVideoTransformer3DModel, sharded or not), scheduler/
// (DPMSolverMultistepScheduler with flow sigmas), text_encoder/ (Gemma-2) + tokenizer/
// (tokenizer.model, sentencepiece), vae/ (AutoencoderKLWan). Every config is mapped field by field
// and every component's weights are checked (names, shapes, shards) before any compute.
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/generate/parts.h"

namespace reel {

absl::StatusOr<RendererParts> LoadSanaVideoParts(const std::string& dir);

}  // namespace reel
