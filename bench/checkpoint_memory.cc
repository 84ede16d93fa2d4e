// Peak resident memory of loading a diffusers SANA-Video transformer/ directory and of one
// forward on a tiny latent (bench/checkpoint_memory.sh writes a random checkpoint of the real 2B
// shapes in bf16 first). Not a ctest: the checkpoint is ~4 GB.
//
//   reel_bench_checkpoint_memory DIR   (DIR holds transformer/)
#include <cstdio>
#include <fstream>
#include <string>

#include "pipeline/model/checkpoint_weights.h"
#include "pipeline/model/diffusers_config.h"
#include "pipeline/model/dit.h"
#include "pipeline/tensor/tensor.h"

namespace {

// VmRSS / VmHWM of this process in MiB (/proc/self/status).
double StatusMiB(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return -1;
}

void Report(const char* when) {
  std::printf("%-34s RSS %8.0f MiB   peak RSS %8.0f MiB\n", when, StatusMiB("VmRSS"),
              StatusMiB("VmHWM"));
}

int Run(const std::string& dir) {
  Report("start");
  auto json = reel::ReadJsonFile(dir + "/transformer/config.json");
  if (!json.ok()) return std::fprintf(stderr, "%s\n", json.status().ToString().c_str()), 1;
  auto config = reel::ParseSanaVideoTransformerConfig(*json);
  if (!config.ok()) return std::fprintf(stderr, "%s\n", config.status().ToString().c_str()), 1;
  auto weights = reel::OpenComponentWeights(dir + "/transformer");
  if (!weights.ok()) return std::fprintf(stderr, "%s\n", weights.status().ToString().c_str()), 1;
  Report("shards mapped and checked");
  auto dit = reel::Dit::Load(*config, *weights);
  if (!dit.ok()) return std::fprintf(stderr, "%s\n", dit.status().ToString().c_str()), 1;
  Report("Dit loaded");
  std::printf("weights as stored %.0f MiB; widened to f32 at load %.1f MiB\n",
              weights->parameter_bytes() / 1048576.0, weights->converted_bytes() / 1048576.0);
  const reel::DitConfig& c = *config;
  auto caption = reel::Tensor::Zeros({8, c.caption_dim});
  auto mask = reel::Tensor::FromVector({8}, std::vector<float>(8, 1.0f));
  auto latents = reel::Tensor::Zeros({c.in_channels, 1, 4, 4});
  auto prepared = dit->PrepareCaption(*caption, *mask);
  if (!prepared.ok()) return std::fprintf(stderr, "%s\n", prepared.status().ToString().c_str()), 1;
  auto v = dit->Forward(*latents, {500.0f}, *prepared, reel::ForwardOptions{});
  if (!v.ok()) return std::fprintf(stderr, "%s\n", v.status().ToString().c_str()), 1;
  Report("one forward (16x1x4x4 latents)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT_DIR\n", argv[0]);
    return 2;
  }
  return Run(argv[1]);
}
