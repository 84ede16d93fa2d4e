#include "tests/services/fake_renderer.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace reel::testing {

FakeRenderer::FakeRenderer(FakeRendererOptions options) : options_(std::move(options)) {
  info_.name = options_.name;
  info_.dir = "(fake)";
  info_.default_width = options_.width;
  info_.default_height = options_.height;
  info_.default_frames = options_.frames;
  info_.default_fps = options_.fps;
  info_.max_frames = 256;
  info_.spatial_factor = 8;
  info_.temporal_factor = options_.block_frames;
  info_.default_steps = options_.steps;
  info_.attention = "linear";
  info_.base_memory_bytes = options_.base_memory_bytes;
  info_.memory_bytes_per_pixel = options_.memory_bytes_per_pixel;
}

absl::StatusOr<RenderRequest> FakeRenderer::Resolve(const RenderRequest& in) const {
  RenderRequest r = in;
  if (r.width == 0) r.width = options_.width;
  if (r.height == 0) r.height = options_.height;
  if (r.frames == 0) r.frames = options_.frames;
  if (r.fps == 0) r.fps = options_.fps;
  if (r.steps == 0) r.steps = options_.steps;
  if (r.cfg_scale < 0) r.cfg_scale = 4.5;
  if (r.sampler.empty()) r.sampler = "euler";
  if (r.frames > 1 && r.frames % options_.block_frames != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.frames, " frames: not a multiple of ", options_.block_frames));
  }
  if (r.frames > info_.max_frames) return absl::InvalidArgumentError("too many frames");
  return r;
}

uint8_t FakeRenderer::Expected(int f, int x, int y, int channel, int width) {
  const int side = std::max(4, width / 4);
  const int left = f % std::max(1, width - side);
  const bool inside = x >= left && x < left + side && y >= side && y < 2 * side;
  if (inside) return channel == 2 ? 64 : 230;  // light yellow square
  return 96;                                   // gray background
}

absl::Status FakeRenderer::Render(const RenderRequest& request, FrameSink& sink,
                                  const std::function<void(const RenderProgress&)>& progress,
                                  const std::atomic<bool>* cancel) {
  absl::StatusOr<RenderRequest> resolved = Resolve(request);
  if (!resolved.ok()) return resolved.status();
  const RenderRequest& r = *resolved;
  started_.fetch_add(1);
  if (options_.scratch_bytes > 0) {
    constexpr size_t kChunk = 64 * 1024;  // below glibc's mmap threshold: from the arena
    std::vector<std::unique_ptr<char[]>> scratch;
    for (int64_t n = 0; n < options_.scratch_bytes; n += kChunk) {
      scratch.emplace_back(new char[kChunk]);
      std::memset(scratch.back().get(), 1, kChunk);  // make the pages resident
    }
    std::lock_guard<std::mutex> lock(pinned_mu_);
    for (size_t i = 0; i < scratch.size(); i += 64) pinned_.push_back(std::move(scratch[i]));
  }
  const absl::Time start = absl::Now();
  const int block_frames = r.frames == 1 ? 1 : options_.block_frames;
  const int blocks = (r.frames + block_frames - 1) / block_frames;
  for (int b = 0; b < blocks; ++b) {
    for (int s = 1; s <= r.steps; ++s) {
      if (cancel != nullptr && cancel->load()) return absl::CancelledError("cancelled");
      absl::SleepFor(options_.step_delay);
      steps_done_.fetch_add(1);
      if (progress) {
        RenderProgress p;
        p.step = s;
        p.total_steps = r.steps;
        p.block = b + (s == r.steps ? 1 : 0);
        p.total_blocks = blocks;
        p.elapsed_s = absl::ToDoubleSeconds(absl::Now() - start);
        const double done =
            (static_cast<double>(b) * r.steps + s) / (static_cast<double>(blocks) * r.steps);
        p.eta_s = p.elapsed_s * (1 - done) / done;
        progress(p);
      }
    }
    FrameBlock block;
    block.first_frame = static_cast<int64_t>(b) * block_frames;
    block.count = std::min(block_frames, r.frames - b * block_frames);
    block.width = r.width;
    block.height = r.height;
    block.rgb.resize(static_cast<size_t>(block.count) * r.width * r.height * 3);
    size_t i = 0;
    for (int f = 0; f < block.count; ++f) {
      for (int y = 0; y < r.height; ++y) {
        for (int x = 0; x < r.width; ++x) {
          for (int c = 0; c < 3; ++c) {
            block.rgb[i++] = Expected(static_cast<int>(block.first_frame) + f, x, y, c, r.width);
          }
        }
      }
    }
    if (absl::Status s = sink.Write(block); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace reel::testing
