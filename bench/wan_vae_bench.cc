// Memory and time of the Wan2.1 VAE decoder (WAN_VAE.md "Cost") for a config (the released 2B
// pipeline's VAE by default) with random weights or a vae/ directory's: one stream, latent frames
// decoded `--chunk` at a time as the renderer does. Prints the stream's cache bytes (constant over
// a video), the weights' bytes, the seconds per latent frame (the first frame, which yields 1 pixel
// frame, separately) and the process's peak resident memory. An absolute figure for the docs on
// this machine, not a test.
//
//   reel_bench_wan_vae [--latent_height 60] [--latent_width 104] [--latent_frames 2] [--chunk 1]
//                      [--config vae/config.json] [--weights
//                      vae/diffusion_pytorch_model.safetensors]
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "pipeline/model/wan_vae_decoder.h"

namespace {

// Seconds of CPU this process has used (user + system, all threads): on a shared machine a fairer
// figure than wall time.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double PeakRssGiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "reel_bench_wan_vae: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t height = 60, width = 104, frames = 2, chunk = 1;
  std::string config_path, weights_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--latent_height")
      height = std::atoll(v);
    else if (flag == "--latent_width")
      width = std::atoll(v);
    else if (flag == "--latent_frames")
      frames = std::atoll(v);
    else if (flag == "--chunk")
      chunk = std::atoll(v);
    else if (flag == "--config")
      config_path = v;
    else if (flag == "--weights")
      weights_path = v;
    else
      return Fail("unknown flag " + flag);
  }
  if (height <= 0 || width <= 0 || frames <= 0 || chunk <= 0) return Fail("sizes must be > 0");
  nlohmann::json j = nlohmann::json::object();  // diffusers' defaults = the released Wan2.1 VAE
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  absl::StatusOr<reel::WanVaeConfig> config = reel::ParseWanVaeConfig(j);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  absl::StatusOr<reel::WeightStore> opened = weights_path.empty()
                                                 ? reel::WeightStore::RandomForTesting(1)
                                                 : reel::WeightStore::Open(weights_path);
  if (!opened.ok()) return Fail(std::string(opened.status().message()));
  reel::WeightStore& weights = *opened;
  absl::StatusOr<reel::WanVaeDecoder> decoder = reel::WanVaeDecoder::Load(*config, weights);
  if (!decoder.ok()) return Fail(std::string(decoder.status().message()));
  absl::StatusOr<reel::WanVaeStream> stream = decoder->NewStream(height, width);
  if (!stream.ok()) return Fail(std::string(stream.status().message()));
  std::printf(
      "config base_dim %d z_dim %d dim_mult %zu stages, latents %lldx%lld -> pixels %lldx%lld\n",
      config->decoder_base_dim, config->z_dim, config->dim_mult.size(),
      static_cast<long long>(height), static_cast<long long>(width),
      static_cast<long long>(height * config->spatial_factor()),
      static_cast<long long>(width * config->spatial_factor()));
  std::printf("weights_bytes=%lld cache_bytes=%lld\n",
              static_cast<long long>(weights.parameter_bytes()),
              static_cast<long long>(decoder->cache_bytes(*stream)));
  reel::Tensor latents = *reel::Tensor::Empty({config->z_dim, chunk, height, width});
  float* p = latents.data<float>();
  for (int64_t i = 0; i < latents.numel(); ++i) p[i] = std::sin(0.37f * static_cast<float>(i));
  for (int64_t done = 0; done < frames; done += chunk) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu0 = CpuSeconds();
    absl::StatusOr<reel::Tensor> out = decoder->Decode(*stream, latents);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = CpuSeconds() - cpu0;
    if (!out.ok()) return Fail(std::string(out.status().message()));
    std::printf(
        "latent frames %lld..%lld: %lld pixel frames in %.2f s wall, %.2f s CPU"
        " cache_bytes=%lld peak_rss_gib=%.2f\n",
        static_cast<long long>(done), static_cast<long long>(done + chunk - 1),
        static_cast<long long>(out->dim(1)), s, cpu,
        static_cast<long long>(decoder->cache_bytes(*stream)), PeakRssGiB());
    std::fflush(stdout);
  }
  return 0;
}
