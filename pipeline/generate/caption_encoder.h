#pragma once
// What the renderer needs from a text encoder: a prompt → caption hidden states and mask for the
// DiT's cross-attention. reel-tiny's word tokenizer + transformer and SANA-Video's Gemma-2 with its
// prompt processing both plug in behind it (parts.h).
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/model/placement.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct EncodedCaption {
  Tensor hidden;  // (L, dim) f32, on the encoder's device (the DiT moves it where it runs)
  Tensor mask;    // (L) f32 of 0/1, at least one 1
};

class CaptionEncoder {
 public:
  virtual ~CaptionEncoder() = default;
  virtual int dim() const = 0;
  // `negative`: the text is the negative prompt (SANA-Video encodes it without the instruction
  // prefix).
  virtual absl::StatusOr<EncodedCaption> Encode(const std::string& text, bool negative) const = 0;
  virtual int64_t parameter_bytes() const = 0;
  // Moves the weights once, at start-up, to where Encode should run. An encoder without a GPU path
  // keeps running on the CPU (device() says so, and the start-up line shows it).
  virtual absl::Status Place(const Placement& placement) { return absl::OkStatus(); }
  virtual Device device() const { return Device::Cpu(); }
};

}  // namespace reel
