#pragma once
// The two Wan2.1 VAE layers that are not convolutions (WAN_VAE.md "Layers"), on channels-first f32
// tensors (C, T, H, W).
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel::wan_vae {

// WanRMS_norm: y = x / max(‖x‖₂ over channels, 1e-12) · sqrt(C) · gamma[c] (F.normalize, no
// learned bias in Wan2.1), then SiLU when `silu`.
absl::StatusOr<Tensor> ChannelNorm(const Tensor& x, const Tensor& gamma, bool silu);

// WanAttentionBlock, in place: for every frame separately, x += proj(attention(q, k, v)) with one
// head over the H·W pixels, q, k, v = the 1x1 conv `qkv` (3C × C) of ChannelNorm(x, gamma) (rows
// [0, C), [C, 2C), [2C, 3C)), softmax(qᵀk / sqrt(C)). Query rows go in blocks, so the score matrix
// never exceeds a block × H·W.
absl::Status FrameAttention(Tensor& x, const Tensor& gamma, const Tensor& qkv_weight,
                            const Tensor& qkv_bias, const Tensor& proj_weight,
                            const Tensor& proj_bias);

}  // namespace reel::wan_vae
