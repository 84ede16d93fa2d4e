// LoadRenderer: text encoder → block-autoregressive DiT sampling → streaming VAE decode →
// FrameSink.
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
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/model/json_fields.h"
#include "pipeline/model/text_encoder.h"
#include "pipeline/model/tokenizer.h"
#include "pipeline/model/vae_decoder.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Limits that keep one request within what a worker can hold; documented in the CLI and API.
constexpr int kMaxSide = 1024;
constexpr int kMaxFrames = 4096;
constexpr int kMaxSteps = 200;
constexpr double kMaxCfg = 30.0;
constexpr size_t kMaxPromptBytes = 4096;

struct VideoDefaults {
  int width = 64, height = 64, frames = 16;
  double fps = 8.0;
};

absl::StatusOr<VideoDefaults> ParseVideoDefaults(const nlohmann::json& j) {
  VideoDefaults v;
  if (j.is_null()) return v;
  JsonFields f(j, "config.json video");
  f.Optional("width", v.width);
  f.Optional("height", v.height);
  f.Optional("frames", v.frames);
  f.Optional("fps", v.fps);
  REEL_RETURN_IF_ERROR(f.Finish());
  return v;
}

class PipelineRenderer final : public Renderer {
 public:
  const ModelInfo& info() const override { return info_; }

  absl::StatusOr<RenderRequest> Resolve(const RenderRequest& in) const override {
    RenderRequest r = in;
    if (r.width == 0) r.width = defaults_.width;
    if (r.height == 0) r.height = defaults_.height;
    if (r.frames == 0) r.frames = defaults_.frames;
    if (r.fps == 0) r.fps = defaults_.fps;
    if (r.steps == 0) r.steps = config_.sampler.steps;
    if (r.cfg_scale < 0) r.cfg_scale = config_.sampler.cfg_scale;
    if (r.sampler.empty()) r.sampler = config_.sampler.solver;
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
    if (r.frames < 1 || r.frames > kMaxFrames) {
      return absl::InvalidArgumentError(
          absl::StrCat("frames must be 1..", kMaxFrames, ", got ", r.frames));
    }
    if (r.frames > 1 && r.frames % info_.temporal_factor != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(r.frames, " frames: a video needs a multiple of ", info_.temporal_factor,
                       " frames (one block), e.g. ", RoundUp(r.frames)));
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
    const DitConfig& model = config_.transformer;
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
    REEL_ASSIGN_OR_RETURN(PreparedCaption cond, Caption(r.prompt));
    PreparedCaption uncond;
    if (r.cfg_scale != 1.0) {
      REEL_ASSIGN_OR_RETURN(uncond, Caption(r.negative_prompt));
    }
    const int tf = vae_.config().temporal_factor, sf = vae_.config().spatial_factor;
    const int64_t block_pixels = BlockPixelFrames();
    const int64_t pixel_frames = (r.frames + block_pixels - 1) / block_pixels * block_pixels;
    BlockGenerationParams p;
    p.sampling = {r.steps, r.cfg_scale, r.sampler, config_.sampler.flow_shift};
    p.latent_frames = pixel_frames / tf;
    p.latent_height = r.height / sf;
    p.latent_width = r.width / sf;
    p.block_frames = config_.transformer.block_frames;
    p.seed = r.seed;
    p.parallel = parallel_;
    p.attention = r.attention;
    // The gate's error is reduced over the sequence-parallel group (every rank of it decides
    // alike). Under CFG parallelism each branch's group decides for its own branch.
    REEL_ASSIGN_OR_RETURN(const CacheOptions cache_options,
                          ResolveCacheOptions(info_.default_cache, r.cache));
    REEL_ASSIGN_OR_RETURN(std::unique_ptr<FeatureCache> cache,
                          MakeFeatureCache(cache_options, r.steps, config_.transformer.num_layers,
                                           p.parallel.communicator()));
    p.cache = cache.get();
    int64_t forwards_done = 0;  // counts the forwards when no policy does
    REEL_ASSIGN_OR_RETURN(VaeStream stream, vae_.NewStream(p.latent_height, p.latent_width));

    auto on_block = [&](int64_t first_latent, const Tensor& latents) -> absl::Status {
      // Rank 0 decodes the group's video.
      if (p.parallel.rank() != 0 || (p.parallel.cfg != nullptr && p.parallel.cfg->rank() != 0)) {
        return absl::OkStatus();
      }
      REEL_ASSIGN_OR_RETURN(Tensor pixels, vae_.Decode(stream, latents));
      const int64_t first = first_latent * tf;
      const int64_t count = std::min<int64_t>(pixels.dim(1), r.frames - first);
      if (count <= 0) return absl::OkStatus();
      REEL_ASSIGN_OR_RETURN(FrameBlock block, ToFrameBlock(pixels, first, count));
      return sink.Write(block);
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
        pr.block_forwards_computed = ++forwards_done * config_.transformer.num_layers;
      }
      progress(pr);
    };
    return GenerateBlocks(dit_, cond, r.cfg_scale != 1.0 ? &uncond : nullptr, p, nullptr, on_block,
                          on_progress, cancel);
  }

  absl::Status Init(const std::string& dir, const RendererOptions& options) {
    if (options.threads > 0) omp_set_num_threads(options.threads);
    parallel_ = options.parallel;
    REEL_ASSIGN_OR_RETURN(config_, LoadModelConfig(dir));
    REEL_ASSIGN_OR_RETURN(defaults_, ParseVideoDefaults(config_.video));
    REEL_ASSIGN_OR_RETURN(WeightStore dit_weights,
                          WeightStore::Open(dir + "/transformer.safetensors"));
    REEL_ASSIGN_OR_RETURN(dit_, LinearDit::Load(config_.transformer, dit_weights));
    REEL_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Load(dir + "/tokenizer.json"));
    REEL_ASSIGN_OR_RETURN(TextEncoderConfig tc, ParseTextEncoderConfig(config_.text_encoder));
    if (tc.dim != config_.transformer.caption_dim) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": text_encoder.dim ", tc.dim,
                                                     " != transformer.caption_dim ",
                                                     config_.transformer.caption_dim));
    }
    if (tokenizer_.vocab_size() != tc.vocab_size || tokenizer_.max_tokens() != tc.max_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir, ": tokenizer.json (", tokenizer_.vocab_size(), " words, ", tokenizer_.max_tokens(),
          " tokens) does not match text_encoder (", tc.vocab_size, ", ", tc.max_tokens, ")"));
    }
    REEL_ASSIGN_OR_RETURN(WeightStore text_weights,
                          WeightStore::Open(dir + "/text_encoder.safetensors"));
    REEL_ASSIGN_OR_RETURN(text_, TextEncoder::Load(tc, text_weights));
    REEL_ASSIGN_OR_RETURN(info_.default_cache, ParseCacheConfig(config_.cache));
    REEL_ASSIGN_OR_RETURN(VaeConfig vc, ParseVaeConfig(config_.vae));
    if (vc.latent_channels != config_.transformer.in_channels) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": vae.latent_channels ", vc.latent_channels,
                       " != transformer.in_channels ", config_.transformer.in_channels));
    }
    REEL_ASSIGN_OR_RETURN(WeightStore vae_weights, WeightStore::Open(dir + "/vae.safetensors"));
    REEL_ASSIGN_OR_RETURN(vae_, VaeDecoder::Load(vc, vae_weights));

    info_.name =
        config_.name.empty() ? std::filesystem::path(dir).filename().string() : config_.name;
    info_.dir = dir;
    info_.parameter_bytes = dit_weights.parameter_bytes() + text_weights.parameter_bytes() +
                            vae_weights.parameter_bytes();
    info_.default_width = defaults_.width;
    info_.default_height = defaults_.height;
    info_.default_frames = defaults_.frames;
    info_.default_fps = defaults_.fps;
    info_.max_frames = kMaxFrames;
    info_.spatial_factor = vc.spatial_factor * std::max(config_.transformer.patch_size[1],
                                                        config_.transformer.patch_size[2]);
    info_.temporal_factor = static_cast<int>(BlockPixelFrames());
    info_.default_steps = config_.sampler.steps;
    info_.attention = AttentionKindName(config_.transformer.attention);
    info_.attention_description = DescribeAttention(config_.transformer);
    // Measured for reel-tiny (peak RSS of `reel render`, 4 frames, 1 step, 1 thread: 197 / 374 /
    // 1089 MB at 128² / 256² / 512², i.e. 3.7 KB per pixel over ~140 MB): the full-resolution stage
    // of the VAE decoder dominates, ~14.5 float tensors of (pixel frames per block × channels[0])
    // per pixel (its 3×3×3 convolutions' im2col buffers). 16 leaves a margin for other models.
    constexpr int64_t kFullResolutionTensors = 16;
    info_.memory_bytes_per_pixel = kFullResolutionTensors * BlockPixelFrames() *
                                   (vc.channels.empty() ? 1 : vc.channels.front()) *
                                   static_cast<int64_t>(sizeof(float));
    info_.base_memory_bytes = info_.parameter_bytes + (int64_t{128} << 20);
    return absl::OkStatus();
  }

 private:
  int64_t BlockPixelFrames() const {
    return static_cast<int64_t>(config_.transformer.block_frames) *
           config_.transformer.patch_size[0] * vae_.config().temporal_factor;
  }
  int RoundUp(int frames) const {
    const int b = static_cast<int>(BlockPixelFrames());
    return (frames + b - 1) / b * b;
  }

  absl::StatusOr<PreparedCaption> Caption(const std::string& text) const {
    const TokenizedPrompt tokens = tokenizer_.Encode(text);
    REEL_ASSIGN_OR_RETURN(Tensor hidden, text_.Encode(tokens));
    REEL_ASSIGN_OR_RETURN(
        Tensor mask, Tensor::FromVector({static_cast<int64_t>(tokens.mask.size())}, tokens.mask));
    return dit_.PrepareCaption(hidden, mask);
  }

  ModelConfig config_;
  VideoDefaults defaults_;
  LinearDit dit_;
  Tokenizer tokenizer_;
  TextEncoder text_;
  VaeDecoder vae_;
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
