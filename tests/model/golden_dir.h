#pragma once
// A directory the PyTorch reference wrote live (tools/reference/make_*golden.py):
// golden.safetensors and model/ (config.json + transformer.safetensors), loaded as the C++ engine
// loads a model.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/tensor/safetensors.h"

namespace reel::testing {

struct GoldenDir {
  SafetensorsFile golden;
  ModelConfig config;
  std::unique_ptr<Dit> dit;
};

inline absl::StatusOr<GoldenDir> LoadGoldenDir(const std::string& dir) {
  GoldenDir g;
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(dir + "/golden.safetensors");
  if (!file.ok()) return file.status();
  g.golden = *std::move(file);
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir + "/model");
  if (!config.ok()) return config.status();
  g.config = *config;
  absl::StatusOr<WeightStore> w = WeightStore::Open(dir + "/model/transformer.safetensors");
  if (!w.ok()) return w.status();
  absl::StatusOr<Dit> dit = Dit::Load(g.config.transformer, *w);
  if (!dit.ok()) return dit.status();
  g.dit = std::make_unique<Dit>(*std::move(dit));
  return g;
}

}  // namespace reel::testing
