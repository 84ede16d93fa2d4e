#include "pipeline/generate/frames.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<FrameBlock> ToFrameBlock(const Tensor& pixels, int64_t first_frame, int64_t count) {
  if (pixels.rank() != 4 || pixels.dim(0) != 3 || count < 0 || count > pixels.dim(1) ||
      pixels.dtype() != DType::kF32 || !pixels.device().is_cpu()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ToFrameBlock: pixels ", ShapeString(pixels.shape()), ", count ", count));
  }
  REEL_ASSIGN_OR_RETURN(Tensor p, pixels.Contiguous());
  const int64_t frames = p.dim(1), h = p.dim(2), w = p.dim(3), plane = h * w;
  FrameBlock block;
  block.first_frame = first_frame;
  block.count = static_cast<int>(count);
  block.width = static_cast<int>(w);
  block.height = static_cast<int>(h);
  block.rgb.resize(static_cast<size_t>(count * plane * 3));
  const float* src = p.data<float>();
  for (int64_t f = 0; f < count; ++f) {
    for (int64_t i = 0; i < plane; ++i) {
      for (int c = 0; c < 3; ++c) {
        const float y = src[(c * frames + f) * plane + i];
        const float v = std::round((std::clamp(y, -1.0f, 1.0f) + 1.0f) * 127.5f);
        block.rgb[(f * plane + i) * 3 + c] = static_cast<uint8_t>(v);
      }
    }
  }
  return block;
}

}  // namespace reel
