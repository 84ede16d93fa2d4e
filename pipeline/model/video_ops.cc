#include "pipeline/model/video_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/conv3d.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::video {

absl::StatusOr<Tensor> CausalConv(const Tensor& x, Tensor* cache, const Tensor& weight,
                                  const Tensor& bias, int64_t cout, int kt, int kk) {
  const int64_t cin = x.dim(0), t = x.dim(1), h = x.dim(2), w = x.dim(3), hw = h * w;
  REEL_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty({cout, t, h, w}));
  float* history = cache != nullptr ? cache->data<float>() : nullptr;
  kernels::cpu::CausalConv3d(x.data<float>(), history, cin, t, h, w, weight.data<float>(),
                             bias.data<float>(), cout, kt, kk, y.data<float>());
  if (history != nullptr) {
    const float* xd = x.data<float>();
    for (int64_t i = 0; i < cin; ++i) {
      float* ci = history + i * kCacheFrames * hw;
      const float* xi = xd + i * t * hw;
      if (t >= kCacheFrames) {
        std::memcpy(ci, xi + (t - kCacheFrames) * hw, sizeof(float) * kCacheFrames * hw);
      } else {  // t == 1: the newer cached frame moves back, x's frame comes in
        std::memmove(ci, ci + hw, sizeof(float) * hw);
        std::memcpy(ci + hw, xi, sizeof(float) * hw);
      }
    }
  }
  return y;
}

absl::StatusOr<Tensor> NearestUp2(const Tensor& x) {
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  REEL_ASSIGN_OR_RETURN(Tensor up, Tensor::Empty({x.dim(0), x.dim(1), 2 * h, 2 * w}));
  const float* xd = x.data<float>();
  float* ud = up.data<float>();
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
  const int64_t ch = y.dim(0) / 2, t = y.dim(1), hw = y.dim(2) * y.dim(3);
  REEL_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({ch, 2 * t, y.dim(2), y.dim(3)}));
  const float* yd = y.data<float>();
  float* od = out.data<float>();
  for (int j = 0; j < 2; ++j) {
    for (int64_t i = 0; i < ch; ++i) {
      for (int64_t f = 0; f < t; ++f) {
        std::memcpy(od + (i * 2 * t + 2 * f + j) * hw, yd + ((j * ch + i) * t + f) * hw,
                    sizeof(float) * hw);
      }
    }
  }
  return out;
}

void AddInPlace(Tensor& x, const Tensor& r) {
  float* xd = x.data<float>();
  const float* rd = r.data<float>();
  const int64_t n = x.numel();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) xd[i] += rd[i];
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
                                   absl::string_view what) {
  const int64_t z = static_cast<int64_t>(mean.size());
  if (latents.rank() != 4 || latents.dim(0) != z || latents.dim(1) < 1 ||
      latents.dim(2) != height || latents.dim(3) != width) {
    return absl::InvalidArgumentError(absl::StrCat(what, " latents ", ShapeString(latents.shape()),
                                                   ": expected (", z, ", n >= 1, ", height, ", ",
                                                   width, ") for this stream"));
  }
  if (!latents.device().is_cpu()) {
    return absl::UnimplementedError(absl::StrCat("the ", what, " decoder runs on the CPU"));
  }
  REEL_ASSIGN_OR_RETURN(
      Tensor x, latents.dtype() == DType::kF32 ? latents.Clone() : ops::Cast(latents, DType::kF32));
  const int64_t per_channel = x.numel() / z;
  float* xd = x.data<float>();
  for (int64_t c = 0; c < z; ++c) {
    const float sd = std[c], mu = mean[c];
    float* xc = xd + c * per_channel;
#pragma omp simd
    for (int64_t i = 0; i < per_channel; ++i) xc[i] = xc[i] * sd + mu;
  }
  return x;
}

}  // namespace reel::video
