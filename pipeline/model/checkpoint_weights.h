#pragma once
// The weights of one diffusers component directory (transformer/, vae/, text_encoder/): a single
// *.safetensors file, or shards listed by a *.safetensors.index.json weight_map. Every file is
// memory-mapped (tensors are views of the mapping, not copies); the whole directory is checked
// before a tensor is handed out, and every problem (missing or truncated shard, a name the index
// and the shards disagree on) is reported in one error.
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/model/weights.h"

namespace reel {

absl::StatusOr<WeightStore> OpenComponentWeights(const std::string& component_dir);

}  // namespace reel
