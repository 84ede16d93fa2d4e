#pragma once
// A small deterministic Renderer for service tests: it needs no model, renders a bright square
// moving one pixel per frame over a gray background (so decoded frames can be checked), sleeps
// `step_delay` per denoising step, reports progress every step and honors the cancel flag at every
// step.
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/generate/renderer.h"

namespace reel::testing {

struct FakeRendererOptions {
  std::string name = "fake-tiny";
  int width = 32, height = 32, frames = 8, block_frames = 4, steps = 3;
  double fps = 8.0;
  absl::Duration step_delay = absl::Milliseconds(2);
  // What it claims a render needs (ModelInfo): 0 = unknown.
  int64_t base_memory_bytes = 0, memory_bytes_per_pixel = 0;
  // Heap the render touches (in 64 KiB chunks, like a pipeline's buffers) and frees, except every
  // 64th chunk, which stays alive: fragmentation, which keeps the freed memory between them
  // resident unless the allocator is asked to return it.
  int64_t scratch_bytes = 0;
};

class FakeRenderer final : public Renderer {
 public:
  explicit FakeRenderer(FakeRendererOptions options = {});

  const ModelInfo& info() const override { return info_; }
  absl::StatusOr<RenderRequest> Resolve(const RenderRequest& request) const override;
  absl::Status Render(const RenderRequest& request, FrameSink& sink,
                      const std::function<void(const RenderProgress&)>& progress,
                      const std::atomic<bool>* cancel) override;

  int renders_started() const { return started_.load(); }
  int steps_done() const { return steps_done_.load(); }

  // The pixel value of frame `f` at (x, y): what a decoder should see, up to codec error.
  static uint8_t Expected(int f, int x, int y, int channel, int width);

 private:
  FakeRendererOptions options_;
  ModelInfo info_;
  std::atomic<int> started_{0};
  std::atomic<int> steps_done_{0};
  std::mutex pinned_mu_;
  std::vector<std::unique_ptr<char[]>> pinned_;  // the chunks of scratch_bytes kept alive
};

}  // namespace reel::testing
