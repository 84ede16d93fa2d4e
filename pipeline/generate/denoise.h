#pragma once
// Sampling loops over the DiT: one trajectory (Denoise) and the block-autoregressive video loop
// (GenerateBlocks) that carries the constant-memory state between blocks.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/model/dit.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct SamplingParams {
  int steps = 20;
  double cfg_scale = 4.5;  // 1: conditional branch only
  std::string solver = "dpm++2m";
  double flow_shift = 3.0;
  int num_train_timesteps = 0;  // > 0: diffusers' flow-sigma schedule (SamplerConfig)
};

// Called after every denoising step with (step done, total). Returning false cancels.
using StepCallback = std::function<bool(int step, int total)>;

// Integrates from pure noise `x` (C, F, H, W) to clean latents with classifier-free guidance.
// `options` supplies the attention scope (state is read, never updated here).
absl::StatusOr<Tensor> Denoise(const Dit& dit, const Tensor& noise, const PreparedCaption& cond,
                               const PreparedCaption* uncond, const SamplingParams& params,
                               const ForwardOptions& options,
                               const StepCallback& on_step = nullptr);

struct BlockGenerationParams {
  SamplingParams sampling;
  int64_t latent_frames = 0;  // whole video, a multiple of block_frames · pt
  int64_t latent_height = 0;
  int64_t latent_width = 0;
  int block_frames = 1;  // token frames per block
  uint64_t seed = 0;
  ParallelContext parallel;      // the world the forwards run in
  CachePolicy* cache = nullptr;  // consulted by every denoising forward (steps restart per block)
  AttentionOverrides attention;  // the request's exact-branch settings
};

// Noise for latent frames [first, first + count): (C, count, H, W).
using NoiseSource = std::function<absl::StatusOr<Tensor>(int64_t first_frame, int64_t frames)>;
// A finished block of clean latents (C, block latent frames, H, W), first latent frame index.
using BlockSink = std::function<absl::Status(int64_t first_frame, const Tensor& latents)>;
// Progress: (block index, step done, steps per block, blocks).
using BlockProgress = std::function<void(int block, int step, int steps, int blocks)>;

// Block-autoregressive generation (README "State update"): each block is denoised attending to
// earlier blocks only through the per-layer state, then one clean pass at t = 0 adds it to the
// state. Memory is independent of the number of blocks. noise = null draws LatentNoise(seed, ...).
absl::Status GenerateBlocks(const Dit& dit, const PreparedCaption& cond,
                            const PreparedCaption* uncond, const BlockGenerationParams& params,
                            const NoiseSource& noise, const BlockSink& sink,
                            const BlockProgress& progress = nullptr,
                            const std::atomic<bool>* cancel = nullptr);

// Bidirectional models (DitConfig::bidirectional(): centered temporal conv): all latent frames are
// denoised together as one sequence, no state (the official SANA-Video sampling). Uses
// params.block_frames = 0 and returns the clean latents (C, latent_frames, H, W); progress reports
// one block. noise = null draws LatentNoise(seed, ...) for frames [0, latent_frames), the same
// noise block-autoregressive generation draws frame by frame.
absl::StatusOr<Tensor> GenerateSequence(const Dit& dit, const PreparedCaption& cond,
                                        const PreparedCaption* uncond,
                                        const BlockGenerationParams& params,
                                        const NoiseSource& noise,
                                        const BlockProgress& progress = nullptr,
                                        const std::atomic<bool>* cancel = nullptr);

}  // namespace reel
