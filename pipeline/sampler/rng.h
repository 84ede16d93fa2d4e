#pragma once
// The one documented random source of generation: Philox4x32-10 (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11) keyed by the seed, with Box–Muller for normals.
// Counter-based, so the same seed gives bit-identical noise on every platform and thread count, and
// any frame can be drawn alone.
#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// One Philox4x32-10 block: counter (4 words) under key (2 words).
std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// n standard normals for (seed, stream): element j comes from counter (j/4, 0, stream_lo,
// stream_hi); each block's 4 words give 2 Box–Muller pairs (u = (word + 0.5) / 2^32).
void GaussianFill(uint64_t seed, uint64_t stream, float* out, int64_t n);

// Latent noise (channels, frames, height, width) for frames [first_frame, first_frame + frames):
// frame f is stream f, so a block drawn alone equals the same frames of the whole video.
absl::StatusOr<Tensor> LatentNoise(uint64_t seed, int64_t channels, int64_t first_frame,
                                   int64_t frames, int64_t height, int64_t width);

}  // namespace reel
