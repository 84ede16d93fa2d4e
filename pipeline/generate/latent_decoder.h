#pragma once
// What the renderer needs from a VAE decoder: normalized latents → pixels, streamed chunk by chunk
// with a per-video cache so that memory stays bounded whatever the length. reel's causal VAE and
// the Wan2.1 VAE both plug in behind it (parts.h).
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "pipeline/model/placement.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// One video's decoder state (feature caches); owned by the caller, used by one decoder.
class LatentStream {
 public:
  virtual ~LatentStream() = default;
};

class LatentDecoder {
 public:
  virtual ~LatentDecoder() = default;
  virtual int latent_channels() const = 0;
  virtual int spatial_factor() const = 0;
  // Pixel frames the first n latent frames of a video decode to (reel: 4n; Wan: 1 + 4(n − 1)).
  virtual int64_t PixelFrames(int64_t latent_frames) const = 0;
  virtual absl::StatusOr<std::unique_ptr<LatentStream>> NewStream(int64_t latent_height,
                                                                  int64_t latent_width) const = 0;
  // latents (z, n, h, w) as the DiT makes them (normalized), following the frames this stream has
  // decoded → (3, pixel frames, H, W) in [−1, 1], on the CPU (frames go to the encoder from there,
  // once per block). `latents` may live on any device.
  virtual absl::StatusOr<Tensor> Decode(LatentStream& stream, const Tensor& latents) const = 0;
  virtual int64_t parameter_bytes() const = 0;
  // Bytes of decoder state per latent pixel for ModelInfo's memory estimate (0: unknown).
  virtual int64_t memory_bytes_per_pixel() const = 0;
  // As CaptionEncoder::Place: weights moved once; without a GPU path the decoder stays on the CPU.
  virtual absl::Status Place(const Placement& placement) { return absl::OkStatus(); }
  virtual Device device() const { return Device::Cpu(); }
};

}  // namespace reel
