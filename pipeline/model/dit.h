#pragma once
// The DiT (README "Forward"): patch embedding, adaLN-single timestep modulation, blocks of the
// model's attention kind (linear, sparse_linear or softmax), modulated output norm and unpatchify.
// One sample per call (classifier-free guidance runs two calls).
#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pipeline/model/block_state.h"
#include "pipeline/model/cache_policy.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit_block.h"
#include "pipeline/model/weights.h"
#include "pipeline/parallel/communicator.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// Everything cross-attention needs from one prompt, computed once per request.
struct PreparedCaption {
  Tensor projected;             // (L, D) after projection + RMSNorm
  Tensor mask;                  // (L) of 0/1
  std::vector<CrossKV> layers;  // per block
};

struct TimestepEmbedding {
  Tensor embedded;  // (D): embedded_t (feeds the output norm)
  Tensor t6;        // (6, D): adaLN-single projection (feeds every block)
};

struct ForwardOptions {
  int causal_block_frames =
      0;                     // 0: bidirectional; else block-causal over blocks of this many frames
  int64_t frame_offset = 0;  // absolute token-frame index of the first frame (RoPE)
  ModelState* state = nullptr;   // context of earlier blocks, read when set
  bool update_state = false;     // add this call's tokens to *state
  ParallelContext parallel;      // the world this forward runs in (default: one rank)
  CachePolicy* cache = nullptr;  // feature caching (cache_policy.h); null: compute every block
  int step = 0;                  // denoising step within the current block, for `cache`
  AttentionOverrides attention;  // a request's exact-branch settings (config.h)
};

class Dit {
 public:
  static absl::StatusOr<Dit> Load(const DitConfig& config, WeightStore& weights);
  // This model with its weights placed once (placement.h): on a GPU the whole forward then runs
  // there. Inputs may live anywhere; Forward returns velocities on the latents' device.
  absl::StatusOr<Dit> Placed(const Placement& placement) const;
  const Placement& placement() const { return placement_; }
  const Device& device() const { return placement_.device; }

  const DitConfig& config() const { return config_; }

  // caption (L, caption_dim), mask (L) with at least one 1.
  absl::StatusOr<PreparedCaption> PrepareCaption(const Tensor& caption, const Tensor& mask) const;
  // t = 1000·σ.
  absl::StatusOr<TimestepEmbedding> EmbedTimestep(float t) const;
  // latents (C, F, H, W) → tokens (F'·H'·W', D).
  absl::StatusOr<Tensor> PatchEmbed(const Tensor& latents) const;
  // Velocity (C_out, F, H, W). frame_timesteps: one t per token frame (F/pt values), or one for
  // all.
  absl::StatusOr<Tensor> Forward(const Tensor& latents, absl::Span<const float> frame_timesteps,
                                 const PreparedCaption& caption,
                                 const ForwardOptions& options) const;
  // The same latents under several captions (classifier-free guidance: conditional and
  // unconditional) in one batched pass; one velocity per caption. Updating the state needs one.
  absl::StatusOr<std::vector<Tensor>> ForwardBranches(
      const Tensor& latents, absl::Span<const float> frame_timesteps,
      absl::Span<const PreparedCaption* const> captions, const ForwardOptions& options) const;
  // Applies block `index` to tokens (F', S, D) in place (bidirectional, no state); for stage tests.
  absl::Status ApplyBlock(int index, float t, const PreparedCaption& caption, int64_t height,
                          int64_t width, Tensor& tokens) const;

  // A zeroed per-layer state for frames of `spatial_tokens` = H'·W' tokens.
  absl::StatusOr<ModelState> NewState(int64_t spatial_tokens) const;
  // Checks a latent shape against the patch size and block size (clear INVALID_ARGUMENT otherwise).
  absl::Status CheckLatentShape(const Shape& latents, int causal_block_frames) const;

 private:
  // The RoPE tables of the last grid seen (every step of a block, or of a bidirectional video,
  // has the same one): computed and uploaded once instead of per forward (at 2B's 480p, 32760
  // tokens x 56 angles). Shared by copies of the model; the mutex makes concurrent renders safe.
  class RopeCache {
   public:
    // key: token frames, rows, columns, frame offset, band begin and end.
    absl::StatusOr<RopeTables> Get(const std::array<int64_t, 6>& key,
                                   const std::function<absl::StatusOr<RopeTables>()>& build);

   private:
    std::mutex mu_;
    bool valid_ = false;
    std::array<int64_t, 6> key_{};
    RopeTables tables_;
  };

  DitConfig config_;
  Placement placement_;
  std::shared_ptr<RopeCache> rope_cache_ = std::make_shared<RopeCache>();
  Tensor patch_w_, patch_b_;  // (D, C·pt·ph·pw), (D)
  Tensor t_lin1_w_, t_lin1_b_, t_lin2_w_, t_lin2_b_, t_proj_w_, t_proj_b_;
  Tensor cap1_w_, cap1_b_, cap2_w_, cap2_b_, cap_norm_;
  Tensor out_table_, proj_out_w_, proj_out_b_;
  std::vector<DitBlockWeights> blocks_;
};

// The 256-wide sinusoidal embedding of t: [cos(t·f_j), sin(t·f_j)], f_j = 10000^(−j/128).
std::vector<float> TimestepSinusoid(float t);

}  // namespace reel
