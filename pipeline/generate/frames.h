#pragma once
// Decoded pixels → the RGB24 frames a FrameSink takes.
#include <cstdint>

#include "absl/status/statusor.h"
#include "pipeline/frames/frame_sink.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// pixels (3, F, H, W) in [−1, 1]; frames [0, count) of it become frames first.. of the video, with
// value = round((y + 1)·127.5) clamped to 0..255 (VAE.md "Output").
absl::StatusOr<FrameBlock> ToFrameBlock(const Tensor& pixels, int64_t first_frame, int64_t count);

}  // namespace reel
