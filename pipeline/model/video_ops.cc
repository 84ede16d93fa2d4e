#include "pipeline/model/video_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/conv3d.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/gpu_call.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

#ifdef REEL_HAVE_CUDA
#include "kernels/cuda/conv3d.h"
#include "kernels/cuda/video_ops.h"
#endif

namespace reel::video {
namespace {

// The ops below hand raw pointers to the kernels: every operand must be dense f32 on `device`
// (a host pointer given to a GPU kernel, or the reverse, would crash instead of failing).
absl::Status CheckOperands(const char* op, const Device& device,
                           std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) {
    if (t == nullptr) continue;
    if (!(t->device() == device)) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": a ", DeviceName(t->device()),
                                                     " tensor among ", DeviceName(device),
                                                     " ones (place the decoder and its stream)"));
    }
    if (t->dtype() != DType::kF32 || !t->is_contiguous()) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", ShapeString(t->shape()), " ",
                                                     DTypeName(t->dtype()),
                                                     " operand is not dense f32"));
    }
  }
  return absl::OkStatus();
}

// cache (cin, 2, H, W) ← the last kCacheFrames frames of concat(cache, x).
absl::Status KeepLastFrames(const Tensor& x, Tensor& cache) {
  const int64_t t = x.dim(1);
  if (t >= kCacheFrames) {
    REEL_ASSIGN_OR_RETURN(const Tensor tail, x.Slice(1, t - kCacheFrames, t));
    return ops::Copy(tail, cache);
  }
  // t == 1: the newer cached frame moves back and x's frame comes in; joined into a new tensor
  // first, since a copy's source and destination must not overlap.
  REEL_ASSIGN_OR_RETURN(const Tensor newer, cache.Slice(1, kCacheFrames - 1, kCacheFrames));
  REEL_ASSIGN_OR_RETURN(const Tensor joined, ops::Concat({newer, x}, 1));
  return ops::Copy(joined, cache);
}

}  // namespace

absl::StatusOr<Tensor> CausalConv(const Tensor& x, Tensor* cache, const Tensor& weight,
                                  const Tensor& bias, int64_t cout, int kt, int kk) {
  REEL_RETURN_IF_ERROR(CheckOperands("CausalConv", x.device(), {&x, cache, &weight, &bias}));
  if (x.rank() != 4 || weight.rank() != 2 || weight.dim(0) != cout ||
      weight.dim(1) != x.dim(0) * kt * kk * kk ||
      (cache != nullptr && cache->shape() != Shape({x.dim(0), kCacheFrames, x.dim(2), x.dim(3)}))) {
    return absl::InvalidArgumentError(
        absl::StrCat("CausalConv: x ", ShapeString(x.shape()), ", weight ",
                     ShapeString(weight.shape()), " for ", cout, " channels, kt ", kt, ", kk ", kk,
                     cache != nullptr ? ", cache " + ShapeString(cache->shape()) : ""));
  }
  const int64_t cin = x.dim(0), t = x.dim(1), h = x.dim(2), w = x.dim(3);
  REEL_ASSIGN_OR_RETURN(Tensor y, Tensor::EmptyOn(x.device(), {cout, t, h, w}));
  const float* history = cache != nullptr ? cache->data<float>() : nullptr;
  if (!x.device().is_cpu()) {
    REEL_ON_GPU(x, kernels::cuda::CausalConv3d(x.data<float>(), history, cin, t, h, w,
                                               weight.data<float>(), bias.data<float>(), cout, kt,
                                               kk, y.data<float>(), ctx.cublas, ctx.stream));
  } else {
    kernels::cpu::CausalConv3d(x.data<float>(), history, cin, t, h, w, weight.data<float>(),
                               bias.data<float>(), cout, kt, kk, y.data<float>());
  }
  // Queued after the conv that reads the old cache (same stream on a GPU).
  if (cache != nullptr) REEL_RETURN_IF_ERROR(KeepLastFrames(x, *cache));
  return y;
}

absl::StatusOr<Tensor> NearestUp2(const Tensor& x) {
  REEL_RETURN_IF_ERROR(CheckOperands("NearestUp2", x.device(), {&x}));
  if (x.rank() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("NearestUp2: x ", ShapeString(x.shape()), " is not (C, T, H, W)"));
  }
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  REEL_ASSIGN_OR_RETURN(Tensor up, Tensor::EmptyOn(x.device(), {x.dim(0), x.dim(1), 2 * h, 2 * w}));
  const float* xd = x.data<float>();
  float* ud = up.data<float>();
  if (!x.device().is_cpu()) {
    REEL_ON_GPU(x, kernels::cuda::NearestUp2(xd, planes, h, w, ud, ctx.stream));
    return up;
  }
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      const float* src = xd + (p * h + i) * w;
      float* dst = ud + (p * 2 * h + 2 * i) * 2 * w;
      for (int64_t j = 0; j < w; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
      std::memcpy(dst + 2 * w, dst, sizeof(float) * 2 * w);
    }
  }
  return up;
}

absl::StatusOr<Tensor> InterleaveTimeHalves(const Tensor& y) {
  if (y.rank() != 4 || y.dim(0) % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("InterleaveTimeHalves: y ", ShapeString(y.shape()), " is not (2C, T, H, W)"));
  }
  const int64_t ch = y.dim(0) / 2, t = y.dim(1), h = y.dim(2), w = y.dim(3);
  // y as (2, C, T, H·W) viewed as (C, T, 2, H·W): out[i, 2f + j] = y[j·C + i, f]. One strided copy
  // on y's device.
  REEL_ASSIGN_OR_RETURN(const Tensor halves, y.Reshape({2, ch, t, h * w}));
  REEL_ASSIGN_OR_RETURN(const Tensor moved, halves.Permute({1, 2, 0, 3}));
  REEL_ASSIGN_OR_RETURN(const Tensor dense, moved.Contiguous());
  return dense.Reshape({ch, 2 * t, h, w});
}

int64_t TotalBytes(const std::vector<Tensor>& tensors) {
  int64_t bytes = 0;
  for (const Tensor& t : tensors) bytes += static_cast<int64_t>(t.bytes());
  return bytes;
}

void ClampInPlace(Tensor& x, float lo, float hi) {
  float* d = x.data<float>();
  const int64_t n = x.numel();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) d[i] = std::clamp(d[i], lo, hi);
}

absl::StatusOr<Tensor> ChannelRmsNormSilu(const Tensor& x, const Tensor& gamma, float eps) {
  REEL_RETURN_IF_ERROR(CheckOperands("ChannelRmsNormSilu", x.device(), {&x, &gamma}));
  if (x.rank() < 1 || x.dim(0) == 0 || gamma.numel() != x.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat("ChannelRmsNormSilu: x ", ShapeString(x.shape()),
                                                   ", gamma ", ShapeString(gamma.shape())));
  }
  const int64_t ch = x.dim(0), n = x.numel() / ch;
  REEL_ASSIGN_OR_RETURN(Tensor y, Tensor::EmptyOn(x.device(), x.shape()));
  const float* xd = x.data<float>();
  const float* g = gamma.data<float>();
  float* yd = y.data<float>();
  if (!x.device().is_cpu()) {
    REEL_ON_GPU(x, kernels::cuda::ChannelRmsNorm(xd, ch, n, g, eps, /*silu=*/true, yd, ctx.stream));
    return y;
  }
  ChannelRmsNorm(xd, n, ch, n, g, eps, /*floor=*/0.0f, yd);
  kernels::cpu::Activate(kernels::cpu::Activation::kSilu, yd, yd, y.numel());
  return y;
}

void ChannelRmsNorm(const float* x, int64_t x_stride, int64_t ch, int64_t n, const float* gamma,
                    float eps, float floor, float* y) {
  std::vector<float> inv(n, 0.0f);
  for (int64_t c = 0; c < ch; ++c) {
    const float* xc = x + c * x_stride;
#pragma omp simd
    for (int64_t p = 0; p < n; ++p) inv[p] += xc[p] * xc[p];
  }
  const float inv_ch = 1.0f / static_cast<float>(ch);
  for (int64_t p = 0; p < n; ++p) inv[p] = 1.0f / std::max(std::sqrt(inv[p] * inv_ch + eps), floor);
  for (int64_t c = 0; c < ch; ++c) {
    const float* xc = x + c * x_stride;
    float* yc = y + c * n;
    const float gc = gamma[c];
#pragma omp simd
    for (int64_t p = 0; p < n; ++p) yc[p] = xc[p] * inv[p] * gc;
  }
}

absl::StatusOr<Tensor> Denormalize(const Tensor& latents, const std::vector<float>& mean,
                                   const std::vector<float>& std, int64_t height, int64_t width,
                                   absl::string_view what, const Device& device) {
  const int64_t z = static_cast<int64_t>(mean.size());
  if (latents.rank() != 4 || latents.dim(0) != z || latents.dim(1) < 1 ||
      latents.dim(2) != height || latents.dim(3) != width) {
    return absl::InvalidArgumentError(absl::StrCat(what, " latents ", ShapeString(latents.shape()),
                                                   ": expected (", z, ", n >= 1, ", height, ", ",
                                                   width, ") for this stream"));
  }
  REEL_ASSIGN_OR_RETURN(const Tensor moved, ToDevice(latents, device));
  // Cast copies even an f32 tensor, so the caller's latents stay untouched.
  REEL_ASSIGN_OR_RETURN(Tensor x, ops::Cast(moved, DType::kF32));
  // Per channel: broadcast (z, 1, 1, 1) factors, the same two ops on every device.
  REEL_ASSIGN_OR_RETURN(const Tensor host_std, Tensor::FromVector({z, 1, 1, 1}, std));
  REEL_ASSIGN_OR_RETURN(const Tensor host_mean, Tensor::FromVector({z, 1, 1, 1}, mean));
  REEL_ASSIGN_OR_RETURN(const Tensor scale, ToDevice(host_std, device));
  REEL_ASSIGN_OR_RETURN(const Tensor shift, ToDevice(host_mean, device));
  REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kMul, x, scale));
  REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, x, shift));
  return x;
}

}  // namespace reel::video
