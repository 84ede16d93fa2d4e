#include "pipeline/model/wan_vae_layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/softmax.h"
#include "pipeline/model/video_ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::wan_vae {
namespace {

// Query rows per block of the attention scores: 512 × 6240 pixels (480x832 latents) is 12.8 MB.
constexpr int64_t kQueryBlock = 512;

// ChannelNorm of `ch` planes of `n` values each (plane c at src + c·stride) into dst (ch, n):
// F.normalize's ‖x‖₂ floor of 1e-12 is an RMS floor of 1e-12 / sqrt(C).
void NormPlanes(const float* src, int64_t stride, int64_t ch, int64_t n, const float* gamma,
                float* dst) {
  video::ChannelRmsNorm(src, stride, ch, n, gamma, /*eps=*/0.0f,
                        /*floor=*/1e-12f / std::sqrt(static_cast<float>(ch)), dst);
}

// out (rows, n) = w (rows, k) · x (k, n) + bias[row].
void Project(const float* w, const float* bias, const float* x, int64_t rows, int64_t k, int64_t n,
             float* out) {
  for (int64_t r = 0; r < rows; ++r) std::fill(out + r * n, out + (r + 1) * n, bias[r]);
  kernels::cpu::Gemm(false, false, rows, n, k, 1.0f, w, k, x, n, 1.0f, out, n);
}

}  // namespace

absl::StatusOr<Tensor> ChannelNorm(const Tensor& x, const Tensor& gamma, bool silu) {
  const int64_t ch = x.dim(0), n = x.numel() / ch;
  REEL_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape()));
  NormPlanes(x.data<float>(), n, ch, n, gamma.data<float>(), y.data<float>());
  if (silu) {
    kernels::cpu::Activate(kernels::cpu::Activation::kSilu, y.data<float>(), y.data<float>(),
                           y.numel());
  }
  return y;
}

absl::Status FrameAttention(Tensor& x, const Tensor& gamma, const Tensor& qkv_weight,
                            const Tensor& qkv_bias, const Tensor& proj_weight,
                            const Tensor& proj_bias) {
  const int64_t ch = x.dim(0), frames = x.dim(1), hw = x.dim(2) * x.dim(3);
  const int64_t block = std::min(kQueryBlock, hw);
  REEL_ASSIGN_OR_RETURN(Tensor normed, Tensor::Empty({ch, hw}));
  REEL_ASSIGN_OR_RETURN(Tensor qkv, Tensor::Empty({3 * ch, hw}));
  REEL_ASSIGN_OR_RETURN(Tensor attended, Tensor::Empty({ch, hw}));
  REEL_ASSIGN_OR_RETURN(Tensor projected, Tensor::Empty({ch, hw}));
  REEL_ASSIGN_OR_RETURN(Tensor scores, Tensor::Empty({block, hw}));
  const float scale = 1.0f / std::sqrt(static_cast<float>(ch));
  float* xd = x.data<float>();
  float* q = qkv.data<float>();
  const float* k = q + ch * hw;
  const float* v = q + 2 * ch * hw;
  float* s = scores.data<float>();
  float* o = attended.data<float>();
  for (int64_t t = 0; t < frames; ++t) {
    float* frame = xd + t * hw;  // channel c of frame t at frame + c·frames·hw
    NormPlanes(frame, frames * hw, ch, hw, gamma.data<float>(), normed.data<float>());
    Project(qkv_weight.data<float>(), qkv_bias.data<float>(), normed.data<float>(), 3 * ch, ch, hw,
            q);
    for (int64_t r0 = 0; r0 < hw; r0 += block) {
      const int64_t nb = std::min(block, hw - r0);
      // scores (nb, hw) = scale · q[:, r0:r0+nb]ᵀ k; then attended[:, r0:r0+nb] = v · scoresᵀ.
      kernels::cpu::Gemm(true, false, nb, hw, ch, scale, q + r0, hw, k, hw, 0.0f, s, hw);
      kernels::cpu::Softmax(s, s, nb, hw);
      kernels::cpu::Gemm(false, true, ch, nb, hw, 1.0f, v, hw, s, hw, 0.0f, o + r0, hw);
    }
    Project(proj_weight.data<float>(), proj_bias.data<float>(), o, ch, ch, hw,
            projected.data<float>());
    const float* p = projected.data<float>();
    for (int64_t c = 0; c < ch; ++c) {
      float* xc = frame + c * frames * hw;
      const float* pc = p + c * hw;
#pragma omp simd
      for (int64_t i = 0; i < hw; ++i) xc[i] += pc[i];
    }
  }
  return absl::OkStatus();
}

}  // namespace reel::wan_vae
