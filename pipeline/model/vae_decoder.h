#pragma once
// The reel causal video VAE decoder (VAE.md): normalized latents (z, n, h, w) → RGB (3, 4n, 4h, 4w)
// in [−1, 1], decoded chunk by chunk with per-conv caches of the last 2 input frames, so memory
// stays constant over a video of any length and chunked decoding equals decoding everything at
// once.
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/placement.h"
#include "pipeline/model/weights.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct VaeConfig {
  int latent_channels = 0;
  std::vector<int> channels;  // [c0, c1, c2]: full-, half-, quarter-resolution widths
  int spatial_factor = 4;
  int temporal_factor = 4;
  float rms_eps = 1e-6f;
  std::vector<float> latents_mean, latents_std;  // latent_channels each
};

// The config.json `vae` section; strict (unknown keys are errors).
absl::StatusOr<VaeConfig> ParseVaeConfig(const nlohmann::json& j);

// The per-video state of a decode: for every conv with a temporal kernel of 3, the last 2 frames of
// its input, (cin, 2, height, width) at that conv's resolution, on the decoder's device. Zeros at
// the start of a video.
struct VaeStream {
  int64_t latent_height = 0;
  int64_t latent_width = 0;
  int64_t frames_decoded = 0;  // latent frames so far
  std::vector<Tensor> caches;  // one per cached conv, in decoder order
};

class VaeDecoder {
 public:
  // Takes decoder.* and marks encoder.* as used (the engine never encodes); anything else is an
  // error.
  static absl::StatusOr<VaeDecoder> Load(const VaeConfig& config, WeightStore& weights);

  // A copy whose weights live on the placement's device, all f32 (the precision does not apply:
  // the convolutions are f32 im2col + GEMM on every device). Uploaded once; streams made by the
  // copy keep their caches there too. UNAVAILABLE when the device cannot run (device_memory.h).
  absl::StatusOr<VaeDecoder> Placed(const Placement& placement) const;
  const Device& device() const { return placement_.device; }

  absl::StatusOr<VaeStream> NewStream(int64_t latent_height, int64_t latent_width) const;
  // latents (z, n, h, w) normalized as the DiT produces them (z_n), on any device, n >= 1 latent
  // frames following the ones this stream has decoded. De-normalizes (z = z_n·std + mean), decodes
  // on the decoder's device and updates the caches. → (3, 4n, 4h, 4w) on the CPU (one copy per
  // call from a GPU), clamped to [−1, 1].
  absl::StatusOr<Tensor> Decode(VaeStream& stream, const Tensor& latents) const;
  // The same without the final clamp (for tests against the reference's raw output).
  absl::StatusOr<Tensor> DecodeUnclamped(VaeStream& stream, const Tensor& latents) const;

  const VaeConfig& config() const { return config_; }
  int64_t cache_bytes(const VaeStream& stream) const;

  // A causal conv of the decoder: weight reshaped to (cout, cin·kt·kk·kk).
  struct Conv {
    Tensor weight, bias;
    int64_t cin = 0, cout = 0;
    int kt = 1, kk = 1;
    int cache = -1;  // index into VaeStream::caches, or −1 (kt = 1)
  };
  struct ResBlock {
    Tensor norm1, norm2;
    Conv conv1, conv2;
  };

 private:
  VaeConfig config_;
  Placement placement_;
  Conv conv_in_, tup0_, up0_, tup1_, up1_, conv_out_;
  ResBlock res0_, res1_, res2_, res3_;
  Tensor norm_out_;
  int num_caches_ = 0;
};

}  // namespace reel
