// LoadRenderer: text encoder → DiT sampling (block-autoregressive for causal models, one full
// sequence for bidirectional ones) → streaming VAE decode → FrameSink.
#include "pipeline/generate/renderer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "pipeline/cache/make_feature_cache.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/generate/frames.h"
#include "pipeline/generate/reel_parts.h"
#include "pipeline/generate/sana_parts.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Limits that keep one request within what a worker can hold; documented in the CLI and API.
constexpr int kMaxSide = 1024;
constexpr int kMaxFrames = 4096;
constexpr int kMaxSteps = 200;
constexpr double kMaxCfg = 30.0;
constexpr size_t kMaxPromptBytes = 4096;

class PipelineRenderer final : public Renderer {
 public:
  const ModelInfo& info() const override { return info_; }

  absl::StatusOr<RenderRequest> Resolve(const RenderRequest& in) const override {
    RenderRequest r = in;
    const VideoDefaults& d = parts_.defaults;
    if (r.width == 0) r.width = d.width;
    if (r.height == 0) r.height = d.height;
    if (r.frames == 0) r.frames = d.frames;
    if (r.fps == 0) r.fps = d.fps;
    if (r.steps == 0) r.steps = parts_.sampler.steps;
    if (r.cfg_scale < 0) r.cfg_scale = parts_.sampler.cfg_scale;
    if (r.sampler.empty()) r.sampler = parts_.sampler.solver;
    if (r.negative_prompt.empty()) r.negative_prompt = d.negative_prompt;
    const int sf = info_.spatial_factor;
    if (r.prompt.size() > kMaxPromptBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt is ", r.prompt.size(), " bytes; the limit is ", kMaxPromptBytes));
    }
    if (r.width <= 0 || r.height <= 0 || r.width > kMaxSide || r.height > kMaxSide ||
        r.width % sf != 0 || r.height % sf != 0) {
      return absl::InvalidArgumentError(absl::StrCat("size ", r.width, "x", r.height,
                                                     " must be positive ", "multiples of ", sf,
                                                     " and at most ", kMaxSide));
    }
    if (r.frames < 1 || r.frames > info_.max_frames) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frames must be 1..", info_.max_frames, ", got ", r.frames,
          parts_.transformer.bidirectional()
              ? absl::StrCat(" (a bidirectional model takes its whole video in one sequence of at "
                             "most rope_max_seq_len = ",
                             parts_.transformer.rope_max_seq_len, " token frames)")
              : ""));
    }
    if (r.frames > 1 && LatentFramesFor(r.frames) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(r.frames, " frames: a video of this model has ", FramesRule(),
                       " frames, e.g. ", RoundUp(r.frames)));
    }
    if (!(r.fps > 0) || r.fps > 240) return absl::InvalidArgumentError("fps must be in (0, 240]");
    if (r.steps < 1 || r.steps > kMaxSteps) {
      return absl::InvalidArgumentError(
          absl::StrCat("steps must be 1..", kMaxSteps, ", got ", r.steps));
    }
    if (!(r.cfg_scale >= 0) || r.cfg_scale > kMaxCfg) {
      return absl::InvalidArgumentError(absl::StrCat("cfg scale must be 0..", kMaxCfg));
    }
    if (r.sampler != "euler" && r.sampler != "dpm++2m") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown sampler '", r.sampler, "': expected euler or dpm++2m"));
    }
    REEL_ASSIGN_OR_RETURN(const CacheOptions cache,
                          ResolveCacheOptions(info_.default_cache, r.cache));
    r.cache = ToCacheRequest(cache);
    const DitConfig& model = parts_.transformer;
    REEL_ASSIGN_OR_RETURN(const DitConfig attention, WithAttentionOverrides(model, r.attention));
    if (model.attention != AttentionKind::kLinear) {
      r.attention.attention_window = attention.attention_window;
    }
    if (model.attention == AttentionKind::kSparseLinear) r.attention.sla_topk = attention.sla_topk;
    return r;
  }

  absl::Status Render(const RenderRequest& request, FrameSink& sink,
                      const std::function<void(const RenderProgress&)>& progress,
                      const std::atomic<bool>* cancel) override {
    REEL_ASSIGN_OR_RETURN(RenderRequest r, Resolve(request));
    const auto start = std::chrono::steady_clock::now();
    const bool guided = r.cfg_scale != 1.0;
    REEL_ASSIGN_OR_RETURN(PreparedCaption cond, Caption(r.prompt, /*negative=*/false));
    PreparedCaption uncond;
    if (guided) {
      REEL_ASSIGN_OR_RETURN(uncond, Caption(r.negative_prompt, /*negative=*/true));
    }
    const DitConfig& dc = parts_.transformer;
    const int sf = parts_.vae->spatial_factor();
    BlockGenerationParams p;
    p.sampling = {r.steps, r.cfg_scale, r.sampler, parts_.sampler.flow_shift,
                  parts_.sampler.num_train_timesteps};
    p.latent_frames = r.frames == 1 ? LatentChunk() : LatentFramesFor(r.frames);
    p.latent_height = r.height / sf;
    p.latent_width = r.width / sf;
    p.block_frames = dc.bidirectional() ? 0 : dc.block_frames;
    p.seed = r.seed;
    p.parallel = parallel_;
    p.attention = r.attention;
    // The gate's error is reduced over the sequence-parallel group (every rank of it decides
    // alike). Under CFG parallelism each branch's group decides for its own branch.
    REEL_ASSIGN_OR_RETURN(const CacheOptions cache_options,
                          ResolveCacheOptions(info_.default_cache, r.cache));
    REEL_ASSIGN_OR_RETURN(
        std::unique_ptr<FeatureCache> cache,
        MakeFeatureCache(cache_options, r.steps, dc.num_layers, p.parallel.communicator()));
    p.cache = cache.get();
    int64_t forwards_done = 0;  // counts the forwards when no policy does
    REEL_ASSIGN_OR_RETURN(std::unique_ptr<LatentStream> stream,
                          parts_.vae->NewStream(p.latent_height, p.latent_width));

    int64_t written = 0;  // pixel frames decoded so far
    auto decode = [&](const Tensor& latents) -> absl::Status {
      REEL_ASSIGN_OR_RETURN(Tensor pixels, parts_.vae->Decode(*stream, latents));
      const int64_t count = std::min<int64_t>(pixels.dim(1), r.frames - written);
      const int64_t first = written;
      written += pixels.dim(1);
      if (count <= 0) return absl::OkStatus();
      REEL_ASSIGN_OR_RETURN(FrameBlock block, ToFrameBlock(pixels, first, count));
      return sink.Write(block);
    };
    const bool decodes =
        p.parallel.rank() == 0 && (p.parallel.cfg == nullptr || p.parallel.cfg->rank() == 0);
    auto on_block = [&](int64_t, const Tensor& latents) -> absl::Status {
      return decodes ? decode(latents) : absl::OkStatus();  // rank 0 decodes the group's video
    };
    auto on_progress = [&](int block, int step, int steps, int blocks) {
      if (!progress) return;
      RenderProgress pr;
      pr.step = step;
      pr.total_steps = steps;
      pr.block = block + (step == steps ? 1 : 0);
      pr.total_blocks = blocks;
      pr.elapsed_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double done =
          (static_cast<double>(block) * steps + step) / (static_cast<double>(blocks) * steps);
      pr.eta_s = done > 0 ? pr.elapsed_s * (1.0 - done) / done : 0.0;
      if (cache != nullptr) {
        pr.block_forwards_computed = cache->stats().block_forwards_computed;
        pr.block_forwards_skipped = cache->stats().block_forwards_skipped;
      } else {
        pr.block_forwards_computed = ++forwards_done * dc.num_layers;
      }
      progress(pr);
    };
    const PreparedCaption* negative = guided ? &uncond : nullptr;
    if (!dc.bidirectional()) {
      return GenerateBlocks(parts_.dit, cond, negative, p, nullptr, on_block, on_progress, cancel);
    }
    // One sequence, then the VAE streams it chunk by chunk (memory bounded by its cache).
    REEL_ASSIGN_OR_RETURN(Tensor clean, GenerateSequence(parts_.dit, cond, negative, p, nullptr,
                                                         on_progress, cancel));
    if (!decodes) return absl::OkStatus();
    const int64_t chunk = LatentChunk();
    for (int64_t f = 0; f < clean.dim(1) && written < r.frames; f += chunk) {
      if (cancel != nullptr && cancel->load()) return absl::CancelledError("cancelled");
      REEL_ASSIGN_OR_RETURN(Tensor part, clean.Slice(1, f, std::min(f + chunk, clean.dim(1))));
      REEL_RETURN_IF_ERROR(decode(part));
    }
    return absl::OkStatus();
  }

  absl::Status Init(const std::string& dir, const RendererOptions& options) {
    if (options.threads > 0) omp_set_num_threads(options.threads);
    parallel_ = options.parallel;
    if (std::filesystem::exists(dir + "/model_index.json")) {
      REEL_ASSIGN_OR_RETURN(parts_, LoadSanaVideoParts(dir));
    } else {
      REEL_ASSIGN_OR_RETURN(parts_, LoadReelParts(dir));
    }
    REEL_RETURN_IF_ERROR(Place(options.placement));
    const DitConfig& dc = parts_.transformer;
    info_.name = parts_.name;
    info_.dir = dir;
    info_.parameter_bytes =
        parts_.dit_parameter_bytes + parts_.text->parameter_bytes() + parts_.vae->parameter_bytes();
    info_.default_width = parts_.defaults.width;
    info_.default_height = parts_.defaults.height;
    info_.default_frames = parts_.defaults.frames;
    info_.default_fps = parts_.defaults.fps;
    info_.default_cache = parts_.default_cache;
    info_.spatial_factor =
        parts_.vae->spatial_factor() * std::max(dc.patch_size[1], dc.patch_size[2]);
    info_.temporal_factor = static_cast<int>(parts_.vae->PixelFrames(LatentChunk()));
    info_.default_steps = parts_.sampler.steps;
    info_.attention = AttentionKindName(dc.attention);
    info_.attention_description = DescribeAttention(dc);
    info_.bidirectional = dc.bidirectional();
    // A bidirectional model holds its whole video in one sequence: its RoPE tables bound the
    // token frames (diffusers' rope_max_seq_len).
    info_.max_frames = dc.bidirectional()
                           ? static_cast<int>(std::min<int64_t>(
                                 kMaxFrames, parts_.vae->PixelFrames(int64_t{dc.rope_max_seq_len} *
                                                                     dc.patch_size[0])))
                           : kMaxFrames;
    info_.sampling =
        dc.bidirectional()
            ? absl::StrCat("bidirectional: all latent frames denoised together, up to ",
                           info_.max_frames, " frames")
            : absl::StrCat("block-autoregressive: ", dc.block_frames,
                           " latent token frame(s) per block, constant-size state");
    info_.memory_bytes_per_pixel = parts_.vae->memory_bytes_per_pixel() * LatentChunk();
    info_.base_memory_bytes = info_.parameter_bytes + (int64_t{128} << 20);
    return absl::OkStatus();
  }

 private:
  // Latent frames per generated block (causal) or per decode call (bidirectional).
  int64_t LatentChunk() const {
    const DitConfig& dc = parts_.transformer;
    return static_cast<int64_t>(dc.bidirectional() ? 1 : dc.block_frames) * dc.patch_size[0];
  }
  // The latent frames whose decode is exactly `frames` pixel frames in whole chunks; −1 if none.
  int64_t LatentFramesFor(int64_t frames) const {
    const int64_t chunk = LatentChunk();
    for (int64_t n = chunk;; n += chunk) {
      const int64_t pixels = parts_.vae->PixelFrames(n);
      if (pixels == frames) return n;
      if (pixels > frames) return -1;
    }
  }
  std::string FramesRule() const {
    const int64_t c = LatentChunk(), first = parts_.vae->PixelFrames(c),
                  step = parts_.vae->PixelFrames(2 * c) - first;
    if (first == step) return absl::StrCat("a multiple of ", step);
    return absl::StrCat(first, " + ", step, "·k");
  }
  int64_t RoundUp(int64_t frames) const {
    const int64_t chunk = LatentChunk();
    int64_t n = chunk;
    while (parts_.vae->PixelFrames(n) < frames) n += chunk;
    return parts_.vae->PixelFrames(n);
  }

  absl::StatusOr<PreparedCaption> Caption(const std::string& text, bool negative) const {
    REEL_ASSIGN_OR_RETURN(EncodedCaption c, parts_.text->Encode(text, negative));
    return parts_.dit.PrepareCaption(c.hidden, c.mask);
  }

  // Weights move once; the CPU copies go (the mapped files are released with them).
  absl::Status Place(const Placement& p) {
    if (!p.device.is_cpu()) {
      if (parallel_.world_size() > 1) {
        return absl::UnimplementedError(
            "sequence parallelism exchanges host tensors: run its ranks with --device cpu for now "
            "(CFG parallelism works on GPUs)");
      }
      REEL_ASSIGN_OR_RETURN(parts_.dit, parts_.dit.Placed(p));
      REEL_RETURN_IF_ERROR(parts_.text->Place(p));
      REEL_RETURN_IF_ERROR(parts_.vae->Place(p));
    }
    info_.placement =
        absl::StrCat("transformer ", DeviceName(parts_.dit.device()), " (",
                     PrecisionName(parts_.dit.placement().precision), "), text encoder ",
                     DeviceName(parts_.text->device()), ", vae ", DeviceName(parts_.vae->device()));
    return absl::OkStatus();
  }

  RendererParts parts_;
  ModelInfo info_;
  ParallelContext parallel_;
};

}  // namespace

VideoSpec SpecFor(const RenderRequest& r, const ModelInfo& model, const std::string& format) {
  VideoSpec spec;
  spec.width = r.width;
  spec.height = r.height;
  spec.fps = r.fps;
  spec.frames = r.frames;
  spec.format = format;
  spec.metadata["prompt"] = r.prompt;
  if (!r.negative_prompt.empty()) spec.metadata["negative_prompt"] = r.negative_prompt;
  spec.metadata["seed"] = absl::StrCat(r.seed);
  spec.metadata["model"] = model.name;
  spec.metadata["steps"] = absl::StrCat(r.steps);
  spec.metadata["cfg_scale"] = absl::StrCat(r.cfg_scale);
  spec.metadata["sampler"] = r.sampler;
  if (r.attention.attention_window >= 0) {
    spec.metadata["attention_window"] = absl::StrCat(r.attention.attention_window);
  }
  if (r.attention.sla_topk >= 0) spec.metadata["sla_topk"] = absl::StrCat(r.attention.sla_topk);
  if (const auto cache = ResolveCacheOptions(model.default_cache, r.cache);
      cache.ok() && cache->policy != CachePolicyKind::kNone) {
    spec.metadata["cache"] = DescribeCacheOptions(*cache);
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<Renderer>> LoadRenderer(const std::string& model_dir,
                                                       const RendererOptions& options) {
  auto renderer = std::make_unique<PipelineRenderer>();
  REEL_RETURN_IF_ERROR(renderer->Init(model_dir, options));
  return renderer;
}

}  // namespace reel
