#include "pipeline/model/dit.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "pipeline/model/rope.h"
#include "pipeline/model/sequence_parallel.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

std::vector<float> TimestepSinusoid(float t) {
  constexpr int kHalf = 128;
  std::vector<float> emb(static_cast<size_t>(2) * kHalf);
  for (int j = 0; j < kHalf; ++j) {
    const double freq = std::exp(-std::log(10000.0) * j / kHalf);
    const double arg = static_cast<double>(t) * freq;
    emb[j] = static_cast<float>(std::cos(arg));  // flip_sin_to_cos: cosines first
    emb[kHalf + j] = static_cast<float>(std::sin(arg));
  }
  return emb;
}

namespace {

// RoPE tables are computed on the host (cheap, once per call) and used where the model runs.
absl::StatusOr<RopeTables> RopeOn(const RopeTables& host, const Device& device) {
  RopeTables t;
  REEL_ASSIGN_OR_RETURN(t.cos, ToDevice(host.cos, device));
  REEL_ASSIGN_OR_RETURN(t.sin, ToDevice(host.sin, device));
  return t;
}

}  // namespace

absl::StatusOr<RopeTables> Dit::RopeCache::Get(
    const std::array<int64_t, 6>& key, const std::function<absl::StatusOr<RopeTables>()>& build) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!valid_ || key != key_) {
    REEL_ASSIGN_OR_RETURN(tables_, build());
    key_ = key;
    valid_ = true;
  }
  return tables_;
}

absl::StatusOr<Dit> Dit::Load(const DitConfig& c, WeightStore& s) {
  Dit m;
  m.config_ = c;
  const int64_t d = c.hidden_size, cin = c.in_channels;
  const int64_t pt = c.patch_size[0], ph = c.patch_size[1], pw = c.patch_size[2];
  m.patch_w_ =
      s.TakeMatrix("patch_embedding.weight", {d, cin, pt, ph, pw}, {d, cin * pt * ph * pw});
  m.patch_b_ = s.Take("patch_embedding.bias", {d});
  m.t_lin1_w_ = s.TakeMatrix("time_embed.emb.timestep_embedder.linear_1.weight", {d, 256});
  m.t_lin1_b_ = s.Take("time_embed.emb.timestep_embedder.linear_1.bias", {d});
  m.t_lin2_w_ = s.TakeMatrix("time_embed.emb.timestep_embedder.linear_2.weight", {d, d});
  m.t_lin2_b_ = s.Take("time_embed.emb.timestep_embedder.linear_2.bias", {d});
  m.t_proj_w_ = s.TakeMatrix("time_embed.linear.weight", {6 * d, d});
  m.t_proj_b_ = s.Take("time_embed.linear.bias", {6 * d});
  m.cap1_w_ = s.TakeMatrix("caption_projection.linear_1.weight", {d, c.caption_dim});
  m.cap1_b_ = s.Take("caption_projection.linear_1.bias", {d});
  m.cap2_w_ = s.TakeMatrix("caption_projection.linear_2.weight", {d, d});
  m.cap2_b_ = s.Take("caption_projection.linear_2.bias", {d});
  m.cap_norm_ = s.Take("caption_norm.weight", {d});
  m.out_table_ = s.Take("scale_shift_table", {2, d});
  m.proj_out_w_ = s.TakeMatrix("proj_out.weight", {pt * ph * pw * c.out_channels, d});
  m.proj_out_b_ = s.Take("proj_out.bias", {pt * ph * pw * c.out_channels});
  for (int i = 0; i < c.num_layers; ++i) {
    m.blocks_.push_back(DitBlockWeights::Take(s, absl::StrCat("transformer_blocks.", i, "."), c));
  }
  REEL_RETURN_IF_ERROR(s.Finish());
  return m;
}

absl::StatusOr<Dit> Dit::Placed(const Placement& placement) const {
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(placement.device));
  Dit m;
  m.config_ = config_;
  m.placement_ = placement;
  struct Member {
    Tensor Dit::*field;
    bool projection;
  };
  static constexpr Member kMembers[] = {
      {&Dit::patch_w_, true},    {&Dit::patch_b_, false},   {&Dit::t_lin1_w_, true},
      {&Dit::t_lin1_b_, false},  {&Dit::t_lin2_w_, true},   {&Dit::t_lin2_b_, false},
      {&Dit::t_proj_w_, true},   {&Dit::t_proj_b_, false},  {&Dit::cap1_w_, true},
      {&Dit::cap1_b_, false},    {&Dit::cap2_w_, true},     {&Dit::cap2_b_, false},
      {&Dit::cap_norm_, false},  {&Dit::out_table_, false}, {&Dit::proj_out_w_, true},
      {&Dit::proj_out_b_, false}};
  for (const Member& member : kMembers) {
    REEL_ASSIGN_OR_RETURN(m.*member.field,
                          PlaceWeight(this->*member.field, placement, member.projection));
  }
  for (const DitBlockWeights& b : blocks_) {
    REEL_ASSIGN_OR_RETURN(DitBlockWeights placed, b.Placed(placement));
    m.blocks_.push_back(std::move(placed));
  }
  // Uploads are queued on the device's stream: wait, so a failure shows here, not in a step.
  REEL_RETURN_IF_ERROR(Synchronize(placement.device));
  return m;
}

absl::StatusOr<PreparedCaption> Dit::PrepareCaption(const Tensor& host_caption,
                                                    const Tensor& host_mask) const {
  REEL_ASSIGN_OR_RETURN(const Tensor caption, ToDevice(host_caption, device()));
  REEL_ASSIGN_OR_RETURN(const Tensor mask, ToDevice(host_mask, device()));
  if (caption.rank() != 2 || caption.dim(1) != config_.caption_dim ||
      mask.numel() != caption.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "caption ", ShapeString(caption.shape()), " / mask ", ShapeString(mask.shape()),
        ": expected (L, ", config_.caption_dim, ") and (L)"));
  }
  REEL_ASSIGN_OR_RETURN(std::vector<float> m, mask.ToVector());
  bool any = false;
  for (float v : m) any |= v != 0.0f;
  if (!any) return absl::InvalidArgumentError("caption mask has no valid token");
  PreparedCaption p;
  REEL_ASSIGN_OR_RETURN(Tensor h, ops::Linear(caption, cap1_w_, &cap1_b_));
  REEL_ASSIGN_OR_RETURN(h, ops::Activate(h, ops::Activation::kGeluTanh));
  REEL_ASSIGN_OR_RETURN(h, ops::Linear(h, cap2_w_, &cap2_b_));
  REEL_ASSIGN_OR_RETURN(p.projected, ops::RmsNorm(h, config_.caption_norm_eps, &cap_norm_));
  REEL_ASSIGN_OR_RETURN(p.mask, mask.Reshape({mask.numel()}));
  for (const DitBlockWeights& b : blocks_) {
    REEL_ASSIGN_OR_RETURN(CrossKV kv, PrepareCrossKV(b, config_, p.projected));
    p.layers.push_back(std::move(kv));
  }
  return p;
}

absl::StatusOr<TimestepEmbedding> Dit::EmbedTimestep(float t) const {
  REEL_ASSIGN_OR_RETURN(Tensor host, Tensor::FromVector({1, 256}, TimestepSinusoid(t)));
  REEL_ASSIGN_OR_RETURN(Tensor sinus, ToDevice(host, device()));
  REEL_ASSIGN_OR_RETURN(Tensor h, ops::Linear(sinus, t_lin1_w_, &t_lin1_b_));
  REEL_ASSIGN_OR_RETURN(h, ops::Activate(h, ops::Activation::kSilu));
  TimestepEmbedding e;
  REEL_ASSIGN_OR_RETURN(e.embedded, ops::Linear(h, t_lin2_w_, &t_lin2_b_));
  REEL_ASSIGN_OR_RETURN(Tensor act, ops::Activate(e.embedded, ops::Activation::kSilu));
  REEL_ASSIGN_OR_RETURN(Tensor t6, ops::Linear(act, t_proj_w_, &t_proj_b_));
  REEL_ASSIGN_OR_RETURN(e.t6, t6.Reshape({6, config_.hidden_size}));
  REEL_ASSIGN_OR_RETURN(e.embedded, e.embedded.Reshape({config_.hidden_size}));
  return e;
}

absl::Status Dit::CheckLatentShape(const Shape& s, int causal_block_frames) const {
  const auto& p = config_.patch_size;
  if (s.size() != 4 || s[0] != config_.in_channels) {
    return absl::InvalidArgumentError(absl::StrCat("latents ", ShapeString(s), ": expected (",
                                                   config_.in_channels, ", F, H, W)"));
  }
  if (s[1] % p[0] != 0 || s[2] % p[1] != 0 || s[3] % p[2] != 0 || s[1] == 0 || s[2] == 0 ||
      s[3] == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latents ", ShapeString(s), ": F, H, W must be positive multiples of the patch (", p[0],
        ", ", p[1], ", ", p[2], ")"));
  }
  if (causal_block_frames > 0 && (s[1] / p[0]) % causal_block_frames != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(s[1] / p[0], " latent token frames are not divisible by ",
                     "the block size of ", causal_block_frames, " frames"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Dit::PatchEmbed(const Tensor& latents) const {
  REEL_RETURN_IF_ERROR(CheckLatentShape(latents.shape(), 0));
  const int64_t c = latents.dim(0), pt = config_.patch_size[0], ph = config_.patch_size[1],
                pw = config_.patch_size[2];
  const int64_t f2 = latents.dim(1) / pt, h2 = latents.dim(2) / ph, w2 = latents.dim(3) / pw;
  // (C, F'·pt, H'·ph, W'·pw) → (F', H', W', C, pt, ph, pw): each token's patch in the weight's
  // order.
  REEL_ASSIGN_OR_RETURN(Tensor moved, ToDevice(latents, device()));
  REEL_ASSIGN_OR_RETURN(Tensor dense, moved.Contiguous());
  REEL_ASSIGN_OR_RETURN(Tensor v, dense.Reshape({c, f2, pt, h2, ph, w2, pw}));
  REEL_ASSIGN_OR_RETURN(Tensor perm, v.Permute({1, 3, 5, 0, 2, 4, 6}));
  REEL_ASSIGN_OR_RETURN(Tensor patches, perm.Contiguous());
  REEL_ASSIGN_OR_RETURN(Tensor rows, patches.Reshape({f2 * h2 * w2, c * pt * ph * pw}));
  return ops::Linear(rows, patch_w_, &patch_b_);
}

absl::StatusOr<ModelState> Dit::NewState(int64_t spatial_tokens) const {
  ModelState state;
  for (int i = 0; i < config_.num_layers; ++i) {
    REEL_ASSIGN_OR_RETURN(BlockState s,
                          BlockState::Zeros(config_.num_heads, config_.head_dim, spatial_tokens,
                                            config_.hidden_size, device()));
    state.push_back(std::move(s));
  }
  return state;
}

absl::Status Dit::ApplyBlock(int index, float t, const PreparedCaption& caption, int64_t height,
                             int64_t width, Tensor& tokens) const {
  REEL_ASSIGN_OR_RETURN(TimestepEmbedding e, EmbedTimestep(t));
  const int64_t frames = tokens.dim(0);
  REEL_ASSIGN_OR_RETURN(Tensor t6, e.t6.Reshape({1, 6, config_.hidden_size}));
  std::vector<Tensor> per_frame(frames, t6);
  REEL_ASSIGN_OR_RETURN(Tensor mod, ops::Concat(per_frame, 0));
  REEL_ASSIGN_OR_RETURN(RopeTables host_rope, BuildRope3d(frames, height, width, 0,
                                                          config_.head_dim, config_.rope_theta));
  REEL_ASSIGN_OR_RETURN(RopeTables rope, RopeOn(host_rope, device()));
  const CrossContext cross{&caption.layers[index], &caption.mask};
  return DitBlockForward(blocks_[index], config_, mod, rope, absl::MakeConstSpan(&cross, 1), height,
                         width, AttentionScope{}, tokens);
}

absl::StatusOr<Tensor> Dit::Forward(const Tensor& latents, absl::Span<const float> frame_timesteps,
                                    const PreparedCaption& caption,
                                    const ForwardOptions& options) const {
  const PreparedCaption* one[] = {&caption};
  REEL_ASSIGN_OR_RETURN(std::vector<Tensor> v,
                        ForwardBranches(latents, frame_timesteps, one, options));
  return std::move(v[0]);
}

absl::StatusOr<std::vector<Tensor>> Dit::ForwardBranches(
    const Tensor& latents, absl::Span<const float> frame_timesteps,
    absl::Span<const PreparedCaption* const> captions, const ForwardOptions& options) const {
  REEL_RETURN_IF_ERROR(CheckLatentShape(latents.shape(), options.causal_block_frames));
  REEL_ASSIGN_OR_RETURN(const DitConfig c, WithAttentionOverrides(config_, options.attention));
  const int64_t pt = c.patch_size[0], ph = c.patch_size[1], pw = c.patch_size[2], d = c.hidden_size;
  const int64_t f2 = latents.dim(1) / pt, h2 = latents.dim(2) / ph, w2 = latents.dim(3) / pw;
  const int64_t spatial = h2 * w2;
  if (frame_timesteps.size() != 1 && static_cast<int64_t>(frame_timesteps.size()) != f2) {
    return absl::InvalidArgumentError(absl::StrCat(frame_timesteps.size(), " timesteps for ", f2,
                                                   " token frames: give one, or one per frame"));
  }
  if (options.state != nullptr && static_cast<int>(options.state->size()) != c.num_layers) {
    return absl::InvalidArgumentError("state has the wrong number of layers");
  }
  // Spatial sequence parallelism (ARCHITECTURE.md §4): this rank computes its band of token rows
  // of every frame; blocks reduce attention sums and exchange conv halos, and the output layer's
  // bands are gathered so that every rank returns the whole velocity (and the caller's loop — the
  // solver, the noise, the state — runs identically on every rank).
  const int world = options.parallel.world_size();
  const bool by_blocks = world > 1 && options.parallel.split == ParallelSplit::kBlocks;
  if (by_blocks && (options.state == nullptr || !options.update_state || captions.size() != 1 ||
                    (options.causal_block_frames != 0 && options.causal_block_frames != f2))) {
    return absl::InvalidArgumentError(
        "a block-parallel forward is a state-update pass: one caption, a state, update_state, and "
        "one block per rank");
  }
  const bool by_rows = world > 1 && !by_blocks;
  if (world > 1 && !device().is_cpu()) {
    return absl::UnimplementedError(
        "sequence parallelism exchanges host tensors: a worker group runs on the CPU backend "
        "for now (one GPU per worker without a group works)");
  }
  if (by_rows && world > h2) {
    return absl::InvalidArgumentError(
        absl::StrCat(h2, " token rows cannot be split over ", world,
                     " ranks (sequence parallelism gives every rank at least one row)"));
  }
  const RowBand band = by_rows ? BandOf(h2, options.parallel.rank(), world) : BandOf(h2, 0, 1);
  const int64_t band_spatial = band.rows() * w2;
  if (options.cache != nullptr && options.update_state) {
    return absl::InvalidArgumentError("the state update pass must compute every block (no cache)");
  }
  if (options.state != nullptr && c.temporal_conv == TemporalConvMode::kCentered) {
    return absl::FailedPreconditionError(
        "block-autoregressive generation needs temporal_conv = causal (a centered conv sees the "
        "next block)");
  }

  // Modulation per frame; distinct timesteps are embedded once.
  std::map<float, TimestepEmbedding> embeddings;
  std::vector<Tensor> t6_frames, emb_frames;
  for (int64_t f = 0; f < f2; ++f) {
    const float t = frame_timesteps.size() == 1 ? frame_timesteps[0] : frame_timesteps[f];
    auto it = embeddings.find(t);
    if (it == embeddings.end()) {
      REEL_ASSIGN_OR_RETURN(TimestepEmbedding e, EmbedTimestep(t));
      it = embeddings.emplace(t, std::move(e)).first;
    }
    t6_frames.push_back(*it->second.t6.Reshape({1, 6, d}));
    emb_frames.push_back(*it->second.embedded.Reshape({1, 1, d}));
  }
  REEL_ASSIGN_OR_RETURN(Tensor modulation, ops::Concat(t6_frames, 0));  // (F', 6, D)
  REEL_ASSIGN_OR_RETURN(Tensor embedded, ops::Concat(emb_frames, 0));   // (F', 1, D)

  const int branches = static_cast<int>(captions.size());
  if (branches < 1 || (options.update_state && branches != 1)) {
    return absl::InvalidArgumentError(
        "ForwardBranches: one caption or more; one to update the state");
  }
  std::vector<CrossContext> cross(branches);
  REEL_ASSIGN_OR_RETURN(Tensor band_latents, latents.Slice(2, band.begin * ph, band.end * ph));
  REEL_ASSIGN_OR_RETURN(Tensor tokens, PatchEmbed(band_latents));
  Tensor x;
  if (branches == 1) {
    REEL_ASSIGN_OR_RETURN(x, tokens.Reshape({f2, band_spatial, d}));
  } else {
    std::vector<Tensor> copies(branches, tokens);
    REEL_ASSIGN_OR_RETURN(Tensor all, ops::Concat(copies, 0));
    REEL_ASSIGN_OR_RETURN(x, all.Reshape({branches * f2, band_spatial, d}));
  }
  REEL_ASSIGN_OR_RETURN(
      const RopeTables rope,
      rope_cache_->Get({f2, h2, w2, options.frame_offset, band.begin, band.end},
                       [&]() -> absl::StatusOr<RopeTables> {
                         REEL_ASSIGN_OR_RETURN(RopeTables whole,
                                               BuildRope3d(f2, h2, w2, options.frame_offset,
                                                           c.head_dim, c.rope_theta));
                         REEL_ASSIGN_OR_RETURN(RopeTables banded, BandRope(whole, f2, band, w2));
                         return RopeOn(banded, device());
                       }));
  // The cache hook needs a block after the first to skip.
  const bool cached = options.cache != nullptr && c.num_layers > 1;
  Tensor first_block_out;
  for (int i = 0; i < c.num_layers; ++i) {
    AttentionScope scope;
    scope.causal_block_frames = options.causal_block_frames;
    scope.state = options.state != nullptr ? &(*options.state)[i] : nullptr;
    scope.update_state = options.update_state;
    scope.parallel = options.parallel;
    scope.band = band;
    for (int b = 0; b < branches; ++b) cross[b] = {&captions[b]->layers[i], &captions[b]->mask};
    REEL_RETURN_IF_ERROR(
        DitBlockForward(blocks_[i], c, modulation, rope, cross, band.rows(), w2, scope, x));
    if (cached && i == 0) {
      REEL_ASSIGN_OR_RETURN(const bool compute, options.cache->ShouldCompute(options.step, x));
      if (!compute) {
        REEL_ASSIGN_OR_RETURN(Tensor forecast, options.cache->Forecast(options.step));
        if (forecast.shape() != x.shape()) {
          return absl::InternalError("the cache policy's forecast has the wrong shape");
        }
        x = std::move(forecast);
        break;
      }
      REEL_ASSIGN_OR_RETURN(first_block_out, x.Clone());  // x is updated in place by the blocks
    }
    if (cached && i == c.num_layers - 1) {
      REEL_RETURN_IF_ERROR(options.cache->Observe(options.step, first_block_out, x));
    }
  }

  // Output norm: shift = table[0] + embedded_t, scale = table[1] + embedded_t (per frame).
  REEL_ASSIGN_OR_RETURN(Tensor shift_scale,
                        ops::Add(embedded, *out_table_.Reshape({1, 2, d})));  // (F',2,D)
  REEL_ASSIGN_OR_RETURN(Tensor normed,
                        Tensor::EmptyOn(device(), {branches * f2 * band_spatial, d}));
  for (int64_t bf = 0; bf < branches * f2; ++bf) {
    REEL_ASSIGN_OR_RETURN(Tensor ss, shift_scale.Slice(0, bf % f2, bf % f2 + 1));
    REEL_ASSIGN_OR_RETURN(
        Tensor y, ops::LayerNormModulate(*x.Slice(0, bf, bf + 1)->Reshape({band_spatial, d}),
                                         c.out_norm_eps, *ss.Slice(1, 0, 1), *ss.Slice(1, 1, 2)));
    REEL_ASSIGN_OR_RETURN(Tensor dst, normed.Slice(0, bf * band_spatial, (bf + 1) * band_spatial));
    REEL_RETURN_IF_ERROR(ops::Copy(y, dst));
  }
  REEL_ASSIGN_OR_RETURN(Tensor out, ops::Linear(normed, proj_out_w_, &proj_out_b_));
  if (by_rows) {
    // The bands of the (tiny) output projection → whole frames on every rank.
    REEL_ASSIGN_OR_RETURN(Tensor banded, out.Reshape({branches * f2, band_spatial, out.dim(1)}));
    REEL_ASSIGN_OR_RETURN(Tensor whole, GatherRows(banded, band, w2, options.parallel));
    REEL_ASSIGN_OR_RETURN(out, whole.Reshape({branches * f2 * spatial, out.dim(1)}));
  }
  // Unpatchify each branch: (F', H', W', pt, ph, pw, Co) → (Co, F'·pt, H'·ph, W'·pw).
  const int64_t co = c.out_channels, rows = f2 * spatial;
  std::vector<Tensor> velocities;
  for (int b = 0; b < branches; ++b) {
    REEL_ASSIGN_OR_RETURN(Tensor ob, out.Slice(0, b * rows, (b + 1) * rows));
    REEL_ASSIGN_OR_RETURN(Tensor o7, ob.Reshape({f2, h2, w2, pt, ph, pw, co}));
    REEL_ASSIGN_OR_RETURN(Tensor perm, o7.Permute({6, 0, 3, 1, 4, 2, 5}));
    REEL_ASSIGN_OR_RETURN(Tensor dense, perm.Contiguous());
    REEL_ASSIGN_OR_RETURN(Tensor v, dense.Reshape({co, f2 * pt, h2 * ph, w2 * pw}));
    // Back where the caller keeps its latents (the solver's loop): a few MB per step.
    REEL_ASSIGN_OR_RETURN(Tensor there, ToDevice(v, latents.device()));
    velocities.push_back(std::move(there));
  }
  return velocities;
}

}  // namespace reel
