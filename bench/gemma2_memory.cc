// Memory and time of the Gemma-2 encoder on a real-width checkpoint (tools/reference/
// write_gemma2_shaped.py): resident bytes after Load split into anonymous (copies) and file-backed
// (the mapped safetensors), the peak over one forward pass, and the forward's seconds. A probe, not
// a test: it prints figures for GEMMA2.md "Memory".
//
//   reel_bench_gemma2_memory TEXT_ENCODER_DIR [TOKENS=450]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "pipeline/model/gemma2_encoder.h"

namespace {

// kB values of /proc/self/status lines (VmRSS, RssAnon, RssFile, VmHWM).
long StatusKb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

void Print(const char* when) {
  std::printf("%-14s VmRSS %7.0f MiB  RssAnon %7.0f MiB  RssFile %7.0f MiB  VmHWM %7.0f MiB\n",
              when, StatusKb("VmRSS") / 1024.0, StatusKb("RssAnon") / 1024.0,
              StatusKb("RssFile") / 1024.0, StatusKb("VmHWM") / 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TEXT_ENCODER_DIR [TOKENS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int tokens = argc > 2 ? std::stoi(argv[2]) : 450;
  Print("start");
  std::ifstream config_file(dir + "/config.json");
  const nlohmann::json j = nlohmann::json::parse(config_file, nullptr, false);
  absl::StatusOr<reel::Gemma2Config> config = reel::ParseGemma2Config(j);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<reel::Gemma2Encoder> encoder = [&]() -> absl::StatusOr<reel::Gemma2Encoder> {
    absl::StatusOr<reel::WeightStore> weights = reel::WeightStore::Open(dir + "/model.safetensors");
    if (!weights.ok()) return weights.status();
    return reel::Gemma2Encoder::Load(*config, *weights);
  }();
  if (!encoder.ok()) {
    std::fprintf(stderr, "%s\n", std::string(encoder.status().message()).c_str());
    return 1;
  }
  Print("loaded");
  std::printf("parameter_bytes %.0f MiB\n", encoder->parameter_bytes() / 1048576.0);
  std::vector<int32_t> ids(tokens), mask(tokens, 1);
  for (int i = 0; i < tokens; ++i) ids[i] = (i * 7919 + 2) % config->vocab_size;
  for (int i = tokens * 2 / 3; i < tokens; ++i) mask[i] = 0;  // padded tail, as in the pipeline
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<reel::Tensor> hidden = encoder->Forward(ids, mask);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!hidden.ok()) {
    std::fprintf(stderr, "%s\n", std::string(hidden.status().message()).c_str());
    return 1;
  }
  Print("after forward");
  std::printf("forward: %d tokens, %d layers, %.2f s (%.3f s per layer)\n", tokens,
              config->num_hidden_layers, seconds, seconds / config->num_hidden_layers);
  return 0;
}
