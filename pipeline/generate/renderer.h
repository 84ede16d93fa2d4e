#pragma once
// The engine's front door for everything above it (CLI, worker): text in, frames out through a
// FrameSink.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/cache/cache_options.h"
#include "pipeline/frames/frame_sink.h"
#include "pipeline/model/config.h"
#include "pipeline/model/placement.h"
#include "pipeline/parallel/communicator.h"

namespace reel {

struct RenderRequest {
  std::string prompt;
  std::string negative_prompt;
  int width = 0;          // 0: the model's default
  int height = 0;         // 0: the model's default
  int frames = 0;         // pixel frames; 1 = an image; 0: the model's default
  double fps = 0;         // 0: the model's default
  int steps = 0;          // 0: the model's default
  double cfg_scale = -1;  // < 0: the model's default
  uint64_t seed = 0;
  std::string sampler;  // "euler" | "dpm++2m"; empty: the model's default
  CacheRequest cache;   // feature caching; unset fields: the model's default (config.json "cache")
  // The exact attention branch (kinds softmax / sparse_linear): window and SLA top-k; negative: the
  // model's. Resolve fills in what the render uses.
  AttentionOverrides attention;
};

struct RenderProgress {
  int step = 0;         // denoising steps done in the current block
  int total_steps = 0;  // per block
  int block = 0;        // blocks finished
  int total_blocks = 0;
  double elapsed_s = 0;
  double eta_s = 0;  // estimated seconds left
  // Transformer-block evaluations so far: run, and skipped by feature caching.
  int64_t block_forwards_computed = 0;
  int64_t block_forwards_skipped = 0;
};

struct ModelInfo {
  std::string name;
  std::string dir;
  int64_t parameter_bytes = 0;
  int default_width = 0, default_height = 0, default_frames = 0, max_frames = 0;
  double default_fps = 0;
  int spatial_factor = 0;  // width/height must be multiples of this
  // A video has a multiple of this many frames (one block) — for a Wan-VAE model (1 + 4k frames)
  // the frames of its first latent chunk; 1 = an image.
  int temporal_factor = 0;
  CacheOptions default_cache;         // config.json "cache" (none when absent)
  int default_steps = 0;              // denoising steps per block when a request leaves them 0
  std::string attention;              // the self-attention kind's config name, e.g. "linear"
  std::string attention_description;  // with its settings (DescribeAttention)
  // Bidirectional (one full sequence; max_frames from the model's RoPE length) or
  // block-autoregressive (any length); `sampling` says so in words for `reel models`.
  bool bidirectional = false;
  std::string sampling;
  // Peak resident memory of a render ≈ base_memory_bytes + memory_bytes_per_pixel × width × height,
  // whatever the number of frames (the block-autoregressive loop keeps a constant-size state). 0:
  // unknown.
  int64_t base_memory_bytes = 0;
  int64_t memory_bytes_per_pixel = 0;
  // Where each part runs, e.g. "transformer cuda:0 (bf16), text encoder cuda:0, vae cpu".
  std::string placement;
};

struct RendererOptions {
  int threads = 0;  // 0: all cores
  // A worker group sharding each render (sequence and/or CFG parallel; communicators not owned;
  // default: one process). Every rank calls Render with the same request; only rank 0 of both
  // dimensions decodes and writes to its sink (every rank holds the whole latents: the forward
  // gathers its output bands and CFG pairs exchange velocities).
  ParallelContext parallel;
  // Where the model computes (placement.h; the CLI's --device / --precision). Weights move there
  // once, in LoadRenderer; a part without a GPU path (the Gemma-2 encoder, the Wan VAE) stays on
  // the CPU and ModelInfo::placement says so.
  Placement placement;
};

class Renderer {
 public:
  virtual ~Renderer() = default;
  virtual const ModelInfo& info() const = 0;
  // Protocol: the caller calls Resolve(), opens `sink` itself (SpecFor() below builds the VideoSpec
  // for a chosen container format), calls Render(), then closes the sink (or Abort()s it on error).
  // Render validates again, renders and Write()s every finished block as soon as it is decoded; it
  // never opens or closes the sink. Returns CANCELLED if *cancel became true; progress is called at
  // least once per denoising step.
  virtual absl::Status Render(const RenderRequest& request, FrameSink& sink,
                              const std::function<void(const RenderProgress&)>& progress,
                              const std::atomic<bool>* cancel) = 0;
  // The request with every default filled in and checked, without rendering.
  virtual absl::StatusOr<RenderRequest> Resolve(const RenderRequest& request) const = 0;
};

// The VideoSpec for a resolved request: size, fps, frame count and metadata (prompt, seed, model).
VideoSpec SpecFor(const RenderRequest& resolved, const ModelInfo& model, const std::string& format);

// Loads config + weights from a model directory (e.g. models/reel-tiny) once.
absl::StatusOr<std::unique_ptr<Renderer>> LoadRenderer(const std::string& model_dir,
                                                       const RendererOptions& options);

}  // namespace reel
