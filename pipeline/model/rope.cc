#include "pipeline/model/rope.h"

#include <cmath>
#include <vector>

#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<RopeTables> BuildRope3d(int64_t frames, int64_t height, int64_t width,
                                       int64_t frame_offset, int head_dim, float theta,
                                       Allocator* alloc) {
  const int dh = 2 * (head_dim / 6), dw = dh, dt = head_dim - 2 * dh;
  const int half = head_dim / 2;
  // Frequencies per pair, axis by axis (computed in double as the reference does).
  std::vector<double> freq(half);
  std::vector<int> axis(half);
  int j = 0;
  for (auto [width_of_axis, a] : {std::pair{dt, 0}, std::pair{dh, 1}, std::pair{dw, 2}}) {
    for (int i = 0; i < width_of_axis / 2; ++i, ++j) {
      freq[j] = std::pow(static_cast<double>(theta), -2.0 * i / width_of_axis);
      axis[j] = a;
    }
  }
  const int64_t tokens = frames * height * width;
  REEL_ASSIGN_OR_RETURN(Tensor cos, Tensor::Empty({tokens, half}, DType::kF32, alloc));
  REEL_ASSIGN_OR_RETURN(Tensor sin, Tensor::Empty({tokens, half}, DType::kF32, alloc));
  float* c = cos.data<float>();
  float* s = sin.data<float>();
  int64_t n = 0;
  for (int64_t f = 0; f < frames; ++f) {
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x, ++n) {
        const double pos[3] = {static_cast<double>(f + frame_offset), static_cast<double>(y),
                               static_cast<double>(x)};
        for (int p = 0; p < half; ++p) {
          const double angle = pos[axis[p]] * freq[p];
          c[n * half + p] = static_cast<float>(std::cos(angle));
          s[n * half + p] = static_cast<float>(std::sin(angle));
        }
      }
    }
  }
  return RopeTables{std::move(cos), std::move(sin)};
}

}  // namespace reel
