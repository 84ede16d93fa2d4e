#pragma once
// A FrameSink in front of the real one: it times the encoder (for the throughput metric) and turns
// the last frame of every block into a small PNG preview, then forwards the block unchanged.
#include <cstdint>
#include <functional>

#include "absl/time/time.h"
#include "pipeline/frames/frame_sink.h"
#include "reel/v1/generation.pb.h"

namespace reel::worker {

// PNG of the frame `index` of `block`, scaled so that its longer side is at most max_side pixels.
absl::StatusOr<v1::Preview> MakePreview(const FrameBlock& block, int index, int max_side);

class PreviewSink final : public FrameSink {
 public:
  using PreviewFn = std::function<void(v1::Preview)>;
  // `on_preview` may be empty (no previews). The sink does not own `inner`.
  PreviewSink(FrameSink& inner, int max_side, PreviewFn on_preview)
      : inner_(inner), max_side_(max_side), on_preview_(std::move(on_preview)) {}

  absl::Status Open(const VideoSpec& spec) override;
  absl::Status Write(const FrameBlock& block) override;
  absl::StatusOr<SinkResult> Close() override;
  void Abort() override { inner_.Abort(); }

  // Called after each block the inner sink took (e.g. to report the bytes written so far).
  void set_on_block(std::function<void()> on_block) { on_block_ = std::move(on_block); }

  double encode_seconds() const { return absl::ToDoubleSeconds(encode_time_); }
  int64_t frames() const { return frames_; }

 private:
  FrameSink& inner_;
  const int max_side_;
  PreviewFn on_preview_;
  std::function<void()> on_block_;
  absl::Duration encode_time_;
  int64_t frames_ = 0;
  int blocks_ = 0;
};

}  // namespace reel::worker
