#include <algorithm>

#include "kernels/cuda/conv3d.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// y[o, :] = bias[o] (or 0) over the n = frames·h·w outputs of each channel; the GEMMs then
// accumulate.
__global__ void FillBiasKernel(const float* bias, int64_t cout, int64_t n, float* y) {
  const int64_t total = cout * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = bias != nullptr ? bias[i / n] : 0.0f;
  }
}

// col (K, g·hw), K = cin·kt·kk·kk in the weight's (i, a, p, q) order, for output frames t0..t0+g−1:
// col[r, j·hw + h·width + w] = xx[i, t0 + j + a − (kt − 1), h + p − pad, w + q − pad] or 0 outside.
// One thread per column element; consecutive threads take consecutive pixels (coalesced).
__global__ void Im2colKernel(const float* x, const float* history, int64_t cin, int64_t frames,
                             int64_t height, int64_t width, int kt, int kk, int64_t t0, int64_t g,
                             float* col) {
  const int64_t hw = height * width;
  const int64_t row_len = g * hw;
  const int64_t total = cin * kt * kk * kk * row_len;
  const int pad = kk / 2;
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < total;
       e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = e / row_len;
    const int64_t c = e - r * row_len;
    const int64_t j = c / hw;
    const int64_t pix = c - j * hw;
    const int64_t h = pix / width;
    const int64_t w = pix - h * width;
    const int q = static_cast<int>(r % kk);
    const int p = static_cast<int>((r / kk) % kk);
    const int a = static_cast<int>((r / (kk * kk)) % kt);
    const int64_t i = r / (int64_t{kk} * kk * kt);
    const int64_t s = t0 + j + a - (kt - 1);  // source frame; < 0 is history
    const int64_t sh = h + p - pad;
    const int64_t sw = w + q - pad;
    float v = 0.0f;
    if (sh >= 0 && sh < height && sw >= 0 && sw < width) {
      if (s >= 0) {
        v = x[(i * frames + s) * hw + sh * width + sw];
      } else if (history != nullptr) {
        v = history[(i * (kt - 1) + (s + kt - 1)) * hw + sh * width + sw];
      }
    }
    col[e] = v;
  }
}

}  // namespace

absl::Status CausalConv3dWithScratch(const float* x, const float* history, int64_t cin,
                                     int64_t frames, int64_t height, int64_t width,
                                     const float* weight, const float* bias, int64_t cout, int kt,
                                     int kk, float* y, int64_t column_bytes, cublasHandle_t cublas,
                                     cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(
      internal::CheckSizes("CausalConv3d", {cin, frames, height, width, cout}));
  if ((kt != 1 && kt != 3) || (kk != 1 && kk != 3)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CausalConv3d: kernel ", kt, "x", kk, "x", kk, ", expected kt, kk in {1, 3}"));
  }
  const int64_t hw = height * width;
  const int64_t n = frames * hw;
  if (cout == 0 || n == 0) return absl::OkStatus();
  FillBiasKernel<<<BlocksFor(cout * n), kThreads, 0, stream>>>(bias, cout, n, y);
  REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("CausalConv3d bias"));
  if (cin == 0) return absl::OkStatus();
  const int64_t k = cin * kt * kk * kk;
  if (kt == 1 && kk == 1) {
    // Pointwise: x (cin, n) already is the column matrix.
    return Gemm(false, false, cout, n, cin, 1.0f, weight, cin, x, n, 1.0f, y, n, cublas, stream);
  }
  const int64_t per_frame = k * hw;
  const int64_t per_frame_bytes = per_frame * static_cast<int64_t>(sizeof(float));
  const int64_t group = std::clamp<int64_t>(column_bytes / per_frame_bytes, 1, frames);
  absl::StatusOr<StreamBuffer> col =
      StreamBuffer::Allocate(static_cast<size_t>(group * per_frame_bytes), stream);
  if (!col.ok()) return col.status();
  for (int64_t t0 = 0; t0 < frames; t0 += group) {
    const int64_t g = std::min(group, frames - t0);
    Im2colKernel<<<BlocksFor(k * g * hw), kThreads, 0, stream>>>(
        x, history, cin, frames, height, width, kt, kk, t0, g, col->as<float>());
    REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("CausalConv3d im2col"));
    // Output frames t0..t0+g−1 of every channel: rows of length g·hw at row stride n.
    REEL_CUDA_RETURN_IF_ERROR(Gemm(false, false, cout, g * hw, k, 1.0f, weight, k, col->as<float>(),
                                   g * hw, 1.0f, y + t0 * hw, n, cublas, stream));
  }
  return absl::OkStatus();
}

absl::Status CausalConv3d(const float* x, const float* history, int64_t cin, int64_t frames,
                          int64_t height, int64_t width, const float* weight, const float* bias,
                          int64_t cout, int kt, int kk, float* y, cublasHandle_t cublas,
                          cudaStream_t stream) {
  return CausalConv3dWithScratch(x, history, cin, frames, height, width, weight, bias, cout, kt, kk,
                                 y, kConv3dColumnBytes, cublas, stream);
}

}  // namespace reel::kernels::cuda
