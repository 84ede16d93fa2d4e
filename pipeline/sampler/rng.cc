#include "pipeline/sampler/rng.h"

#include <cmath>
#include <vector>

#include "pipeline/tensor/status_macros.h"

namespace reel {

std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

void GaussianFill(uint64_t seed, uint64_t stream, float* out, int64_t n) {
  const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed),
                                       static_cast<uint32_t>(seed >> 32)};
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  constexpr double kInv2To32 = 1.0 / 4294967296.0;
  for (int64_t block = 0; block * 4 < n; ++block) {
    const std::array<uint32_t, 4> r = Philox4x32(
        {static_cast<uint32_t>(block), static_cast<uint32_t>(static_cast<uint64_t>(block) >> 32),
         static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
        key);
    for (int pair = 0; pair < 2; ++pair) {
      const double u1 = (r[2 * pair] + 0.5) * kInv2To32;
      const double u2 = (r[2 * pair + 1] + 0.5) * kInv2To32;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const int64_t j = block * 4 + 2 * pair;
      if (j < n) out[j] = static_cast<float>(radius * std::cos(kTwoPi * u2));
      if (j + 1 < n) out[j + 1] = static_cast<float>(radius * std::sin(kTwoPi * u2));
    }
  }
}

absl::StatusOr<Tensor> LatentNoise(uint64_t seed, int64_t channels, int64_t first_frame,
                                   int64_t frames, int64_t height, int64_t width) {
  REEL_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({channels, frames, height, width}));
  const int64_t plane = height * width, per_frame = channels * plane;
  std::vector<float> frame(per_frame);
  float* dst = out.data<float>();
  for (int64_t f = 0; f < frames; ++f) {
    GaussianFill(seed, static_cast<uint64_t>(first_frame + f), frame.data(), per_frame);
    for (int64_t c = 0; c < channels; ++c) {
      std::copy(frame.begin() + c * plane, frame.begin() + (c + 1) * plane,
                dst + (c * frames + f) * plane);
    }
  }
  return out;
}

}  // namespace reel
