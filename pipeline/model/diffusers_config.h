#pragma once
// The config.json files of a diffusers-format SANA-Video checkpoint (CHECKPOINT.md), mapped to
// reel's configs. Every field is either used, accepted as known and irrelevant to inference (the
// reason is in diffusers_config.cc), or refused with a message naming it; unknown fields are
// errors, so a checkpoint never computes something other than what its config says.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/config.h"

namespace reel {

// transformer/config.json of SanaVideoTransformer3DModel → DitConfig (temporal_conv centered:
// the official model is bidirectional). sample_size goes to *sample_size when given.
absl::StatusOr<DitConfig> ParseSanaVideoTransformerConfig(const nlohmann::json& j,
                                                          int* sample_size = nullptr);

// scheduler/config.json of DPMSolverMultistepScheduler with flow sigmas → SamplerConfig
// (solver dpm++2m over diffusers' schedule; steps and CFG are the pipeline's defaults, 50 and 6).
absl::StatusOr<SamplerConfig> ParseFlowDpmSchedulerConfig(const nlohmann::json& j);

// model_index.json: the pipeline class and its components.
struct SanaVideoIndex {
  std::string pipeline_class;  // "SanaVideoPipeline"
  // Subdirectories, in the order the loader reads them.
  std::vector<std::string> components;
};
absl::StatusOr<SanaVideoIndex> ParseSanaVideoIndex(const nlohmann::json& j);

// The official pipeline's defaults (pipeline_sana_video.py __call__).
struct SanaVideoDefaults {
  int width = 832, height = 480, frames = 81;
  double fps = 16;              // the pipeline's export_to_video example
  std::string negative_prompt;  // ""
};
// sample_size 30 → the 480p bin's 832x480; 22 → 1280x704; other sizes: a square of
// sample_size·patch·vae_spatial_factor (tiny test checkpoints).
SanaVideoDefaults SanaVideoDefaultsFor(int sample_size, int patch, int vae_spatial_factor);

// Reads dir/config.json as JSON (an error names the path).
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace reel
