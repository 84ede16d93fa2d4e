#pragma once
// Building blocks shared by the causal video VAE decoders (vae_decoder.cc, wan_vae_decoder.cc) on
// channels-first f32 tensors (C, T, H, W). The tensor-level ones run where their tensors live: the
// CPU, or a GPU (kernels/cuda, queued on the device's stream) for the reel VAE placed there; the
// tensors of one call must share a device (else INVALID_ARGUMENT, never a bad pointer).
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pipeline/tensor/tensor.h"

namespace reel::video {

// Frames of input a conv with a temporal kernel of 3 keeps between chunks (kt − 1).
inline constexpr int64_t kCacheFrames = 2;

// Causal conv (kernels::cpu / kernels::cuda CausalConv3d) of x (cin, T, H, W) with weight (cout,
// cin·kt·kk·kk), all dense f32.
// `cache` (cin, 2, H, W) holds the frames before x (zeros at the start of a video) and becomes the
// last 2 frames of concat(cache, x); null for kt = 1.
absl::StatusOr<Tensor> CausalConv(const Tensor& x, Tensor* cache, const Tensor& weight,
                                  const Tensor& bias, int64_t cout, int kt, int kk);

// Nearest ×2 in H and W: (C, T, H, W) → (C, T, 2H, 2W). (PyTorch's "nearest" and "nearest-exact"
// agree at an integer factor of 2.)
absl::StatusOr<Tensor> NearestUp2(const Tensor& x);

// (2C, T, H, W) → (C, 2T, H, W): output frame 2t + j is input channels j·C..j·C+C−1 of frame t.
absl::StatusOr<Tensor> InterleaveTimeHalves(const Tensor& y);

// Bytes of a stream's caches.
int64_t TotalBytes(const std::vector<Tensor>& tensors);

// Clamps every element of x (on the CPU: decoders clamp the frames they have copied back) to
// [lo, hi].
void ClampInPlace(Tensor& x, float lo, float hi);

// silu(ChannelRmsNorm(x) · gamma) of x (C, T, H, W), floor 0, as a new tensor on x's device.
absl::StatusOr<Tensor> ChannelRmsNormSilu(const Tensor& x, const Tensor& gamma, float eps);

// RMS norm over the channels of each position, on host pointers: y[c, p] = x[c, p] · gamma[c] /
// max(sqrt(mean over c of x[·, p]² + eps), floor), for `ch` channels of `n` positions; channel c of
// x at x + c·x_stride, of y at y + c·n.
void ChannelRmsNorm(const float* x, int64_t x_stride, int64_t ch, int64_t n, const float* gamma,
                    float eps, float floor, float* y);

// The decoder input of normalized latents z_n (z, n >= 1, height, width) on any device, any float
// dtype: z = z_n·std[c] + mean[c] per channel, as a new f32 tensor on `device` (the decoder's; the
// caller's stays untouched). `what` names the decoder in the error for a shape that does not fit
// the stream.
absl::StatusOr<Tensor> Denormalize(const Tensor& latents, const std::vector<float>& mean,
                                   const std::vector<float>& std, int64_t height, int64_t width,
                                   absl::string_view what, const Device& device = Device::Cpu());

}  // namespace reel::video
