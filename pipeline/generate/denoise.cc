#include "pipeline/generate/denoise.h"

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "pipeline/sampler/rng.h"
#include "pipeline/sampler/solver.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Below this many activation elements per forward (rows of both guidance branches × hidden size)
// every op is a few microseconds of work and waking a second thread for each of them costs more
// than it saves: measured on reel-tiny (128 × 128), one thread is 1.3× faster than two.
constexpr int64_t kMultiThreadActivations = int64_t{1} << 17;

// Runs the scope with one OpenMP thread on this thread, then restores the previous count.
class SingleThreadScope {
 public:
  explicit SingleThreadScope(bool active) : saved_(omp_get_max_threads()), active_(active) {
    if (active_) omp_set_num_threads(1);
  }
  ~SingleThreadScope() {
    if (active_) omp_set_num_threads(saved_);
  }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int saved_;
  bool active_;
};

// CFG parallelism: this rank's branch only, then one all-gather of both velocities so that every
// rank combines them alike (and steps the same latents).
absl::StatusOr<Tensor> CfgParallelVelocity(const Dit& dit, const Tensor& x, float t,
                                           const PreparedCaption& cond,
                                           const PreparedCaption& uncond, double scale,
                                           const ForwardOptions& options, Communicator& pair) {
  const PreparedCaption& mine = pair.rank() == 0 ? cond : uncond;
  REEL_ASSIGN_OR_RETURN(Tensor own, dit.Forward(x, {t}, mine, options));
  const int64_t n = own.numel();
  REEL_ASSIGN_OR_RETURN(Tensor both, Tensor::Empty({2 * n}));
  const int64_t counts[] = {n, n};
  REEL_RETURN_IF_ERROR(pair.AllGather(own, counts, both));
  REEL_ASSIGN_OR_RETURN(Tensor v, both.Slice(0, 0, n)->Reshape(own.shape()));
  REEL_ASSIGN_OR_RETURN(Tensor v_uncond, both.Slice(0, n, 2 * n)->Reshape(own.shape()));
  REEL_RETURN_IF_ERROR(CombineGuidance(v_uncond, scale, v));
  return v;
}

}  // namespace

absl::StatusOr<Tensor> Denoise(const Dit& dit, const Tensor& noise, const PreparedCaption& cond,
                               const PreparedCaption* uncond, const SamplingParams& params,
                               const ForwardOptions& options, const StepCallback& on_step) {
  const bool guided = params.cfg_scale != 1.0;
  if (guided && uncond == nullptr) {
    return absl::InvalidArgumentError("cfg_scale != 1 needs an unconditional caption");
  }
  REEL_ASSIGN_OR_RETURN(
      std::unique_ptr<FlowSolver> solver,
      MakeFlowSolver(params.solver, params.steps, params.flow_shift, params.num_train_timesteps));
  ForwardOptions read_only = options;
  read_only.update_state = false;
  REEL_ASSIGN_OR_RETURN(Tensor x, noise.Clone());
  for (int i = 0; i < solver->steps(); ++i) {
    const float t = static_cast<float>(solver->timestep(i));
    read_only.step = i;
    Tensor v;
    if (guided && options.parallel.cfg != nullptr && options.parallel.cfg->world_size() == 2) {
      REEL_ASSIGN_OR_RETURN(v, CfgParallelVelocity(dit, x, t, cond, *uncond, params.cfg_scale,
                                                   read_only, *options.parallel.cfg));
    } else if (guided) {
      // Both branches in one batched pass (taller GEMMs, half the op launches).
      const PreparedCaption* both[] = {&cond, uncond};
      REEL_ASSIGN_OR_RETURN(std::vector<Tensor> vs, dit.ForwardBranches(x, {t}, both, read_only));
      v = std::move(vs[0]);
      REEL_RETURN_IF_ERROR(CombineGuidance(vs[1], params.cfg_scale, v));
    } else {
      REEL_ASSIGN_OR_RETURN(v, dit.Forward(x, {t}, cond, read_only));
    }
    REEL_RETURN_IF_ERROR(solver->Step(i, v, x));
    if (on_step && !on_step(i + 1, solver->steps())) return absl::CancelledError("cancelled");
  }
  return x;
}

absl::Status GenerateBlocks(const Dit& dit, const PreparedCaption& cond,
                            const PreparedCaption* uncond, const BlockGenerationParams& params,
                            const NoiseSource& noise, const BlockSink& sink,
                            const BlockProgress& progress, const std::atomic<bool>* cancel) {
  const DitConfig& c = dit.config();
  const int64_t pt = c.patch_size[0], block_latent = params.block_frames * pt;
  if (params.block_frames <= 0 || params.latent_frames <= 0 ||
      params.latent_frames % block_latent != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(params.latent_frames, " latent frames are not a ",
                     "positive multiple of the block size (", block_latent, ")"));
  }
  REEL_RETURN_IF_ERROR(
      dit.CheckLatentShape({c.in_channels, block_latent, params.latent_height, params.latent_width},
                           params.block_frames));
  const int64_t spatial =
      (params.latent_height / c.patch_size[1]) * (params.latent_width / c.patch_size[2]);
  REEL_ASSIGN_OR_RETURN(ModelState state, dit.NewState(spatial));
  const int64_t branches = uncond != nullptr && params.sampling.cfg_scale != 1.0 ? 2 : 1;
  const SingleThreadScope small_work(branches * params.block_frames * spatial * c.hidden_size <
                                     kMultiThreadActivations);
  const int blocks = static_cast<int>(params.latent_frames / block_latent);
  for (int b = 0; b < blocks; ++b) {
    const int64_t first = b * block_latent;
    Tensor x0;
    if (noise) {
      REEL_ASSIGN_OR_RETURN(x0, noise(first, block_latent));
    } else {
      REEL_ASSIGN_OR_RETURN(x0, LatentNoise(params.seed, c.in_channels, first, block_latent,
                                            params.latent_height, params.latent_width));
    }
    ForwardOptions options;
    options.frame_offset = b * params.block_frames;
    options.state = &state;
    options.parallel = params.parallel;
    options.cache = params.cache;
    options.attention = params.attention;
    auto on_step = [&](int step, int total) {
      if (progress) progress(b, step, total, blocks);
      return cancel == nullptr || !cancel->load();
    };
    REEL_ASSIGN_OR_RETURN(Tensor clean,
                          Denoise(dit, x0, cond, uncond, params.sampling, options, on_step));
    // Advance the state with the clean block at t = 0 (conditional branch): LongSANA's cache pass.
    // The last block's state would never be read, so its pass is skipped.
    if (b + 1 < blocks) {
      options.update_state = true;
      options.cache = nullptr;  // the state must see every block's real output
      REEL_RETURN_IF_ERROR(dit.Forward(clean, {0.0f}, cond, options).status());
    }
    REEL_RETURN_IF_ERROR(sink(first, clean));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> GenerateSequence(const Dit& dit, const PreparedCaption& cond,
                                        const PreparedCaption* uncond,
                                        const BlockGenerationParams& params,
                                        const NoiseSource& noise, const BlockProgress& progress,
                                        const std::atomic<bool>* cancel) {
  const DitConfig& c = dit.config();
  if (!c.bidirectional()) {
    return absl::FailedPreconditionError(
        "full-sequence sampling is for bidirectional models (temporal_conv centered); a causal "
        "model is generated block by block");
  }
  REEL_RETURN_IF_ERROR(dit.CheckLatentShape(
      {c.in_channels, params.latent_frames, params.latent_height, params.latent_width}, 0));
  const int64_t token_frames = params.latent_frames / c.patch_size[0];
  if (token_frames > c.rope_max_seq_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        token_frames, " latent token frames exceed the model's rope_max_seq_len (",
        c.rope_max_seq_len, "): a bidirectional model takes its whole video in one sequence"));
  }
  const int64_t spatial =
      (params.latent_height / c.patch_size[1]) * (params.latent_width / c.patch_size[2]);
  const int64_t branches = uncond != nullptr && params.sampling.cfg_scale != 1.0 ? 2 : 1;
  const SingleThreadScope small_work(branches * token_frames * spatial * c.hidden_size <
                                     kMultiThreadActivations);
  Tensor x0;
  if (noise) {
    REEL_ASSIGN_OR_RETURN(x0, noise(0, params.latent_frames));
  } else {
    REEL_ASSIGN_OR_RETURN(x0, LatentNoise(params.seed, c.in_channels, 0, params.latent_frames,
                                          params.latent_height, params.latent_width));
  }
  ForwardOptions options;  // bidirectional over every frame, no state
  options.parallel = params.parallel;
  options.cache = params.cache;
  options.attention = params.attention;
  auto on_step = [&](int step, int total) {
    if (progress) progress(0, step, total, 1);
    return cancel == nullptr || !cancel->load();
  };
  return Denoise(dit, x0, cond, uncond, params.sampling, options, on_step);
}

}  // namespace reel
