#include "kernels/cuda/conv.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// One thread per output element; consecutive threads take consecutive channels, so loads of x and
// stores of y are coalesced in the channels-last layout.
__global__ void DepthwiseConv2d3x3Kernel(const float* x, const float* weight, const float* bias,
                                         float* y, int64_t images, int64_t h, int64_t w,
                                         int64_t c) {
  const int64_t total = images * h * w * c;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t ch = i % c;
    int64_t t = i / c;
    const int64_t px = t % w;
    t /= w;
    const int64_t py = t % h;
    const int64_t img = t / h;
    const float* wk = weight + ch * 9;
    const float* xi = x + img * h * w * c;
    float acc = 0.0f;
    for (int ky = 0; ky < 3; ++ky) {
      const int64_t sy = py + ky - 1;
      if (sy < 0 || sy >= h) continue;
      for (int kx = 0; kx < 3; ++kx) {
        const int64_t sx = px + kx - 1;
        if (sx < 0 || sx >= w) continue;
        acc += wk[ky * 3 + kx] * xi[(sy * w + sx) * c + ch];
      }
    }
    y[i] = bias != nullptr ? acc + bias[ch] : acc;
  }
}

// PyTorch's (cout, cin, 3, 1) weight has the tap innermost; each tap's (cout, cin) matrix must be
// contiguous along cin for cuBLAS: packed[(tap*cout + o)*cin + i] = weight[(o*cin + i)*3 + tap].
__global__ void PackTemporalWeightKernel(const float* weight, int64_t cout, int64_t cin,
                                         float* packed) {
  const int64_t total = 3 * cout * cin;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t tap = i / (cout * cin);
    const int64_t oi = i - tap * cout * cin;  // o * cin + i
    packed[i] = weight[oi * 3 + tap];
  }
}

}  // namespace

absl::Status DepthwiseConv2d3x3(const float* x, const float* weight, const float* bias, float* y,
                                int64_t images, int64_t h, int64_t w, int64_t c,
                                cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("DepthwiseConv2d3x3", {images, h, w, c}));
  const int64_t total = images * h * w * c;
  if (total == 0) return absl::OkStatus();
  DepthwiseConv2d3x3Kernel<<<BlocksFor(total), kThreads, 0, stream>>>(x, weight, bias, y, images, h,
                                                                      w, c);
  return internal::LaunchStatus("DepthwiseConv2d3x3");
}

absl::Status TemporalConv3(const float* x, const float* history, int64_t history_frames,
                           int64_t frames, int64_t spatial, int64_t cin, const float* weight,
                           int64_t cout, int pad_front, bool accumulate, float* y,
                           cublasHandle_t cublas, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(
      internal::CheckSizes("TemporalConv3", {history_frames, frames, spatial, cin, cout}));
  if (pad_front < 0 || pad_front > 2) {
    return absl::InvalidArgumentError(absl::StrCat("TemporalConv3: pad_front ", pad_front,
                                                   " must be 2 (causal) or 1 (centered)"));
  }
  if (history == nullptr) history_frames = 0;  // no history: the missing frames are zeros
  if (frames == 0 || spatial == 0 || cout == 0) return absl::OkStatus();
  const int64_t frame_in = spatial * cin;
  const int64_t frame_out = spatial * cout;
  if (!accumulate) {
    REEL_CUDA_RETURN_IF_ERROR(FromCudaError(
        cudaMemsetAsync(y, 0, static_cast<size_t>(frames * frame_out) * sizeof(float), stream),
        "TemporalConv3: cudaMemsetAsync"));
  }
  if (cin == 0) return absl::OkStatus();
  absl::StatusOr<StreamBuffer> packed =
      StreamBuffer::Allocate(static_cast<size_t>(3 * cout * cin) * sizeof(float), stream);
  if (!packed.ok()) return packed.status();
  PackTemporalWeightKernel<<<BlocksFor(3 * cout * cin), kThreads, 0, stream>>>(weight, cout, cin,
                                                                               packed->as<float>());
  REEL_CUDA_RETURN_IF_ERROR(internal::LaunchStatus("TemporalConv3 weight packing"));
  // Tap k of output frame f reads source frame t = f + k - pad_front (t < 0: history frame
  // history_frames + t). For a fixed tap the output frames reading x (and those reading history)
  // form one contiguous range, so each is a single GEMM over (frames * spatial) rows: y[f0:f1]
  // (rows x cout) += src (rows x cin) * W_k^T with W_k the packed (cout, cin) matrix of tap k.
  for (int tap = 0; tap < 3; ++tap) {
    const float* w_tap = packed->as<float>() + tap * cout * cin;
    const int64_t shift = tap - pad_front;  // t = f + shift
    // Frames reading x: 0 <= f + shift < frames.
    const int64_t x_begin = std::max<int64_t>(0, -shift);
    const int64_t x_end = std::min<int64_t>(frames, frames - shift);
    if (x_begin < x_end) {
      REEL_CUDA_RETURN_IF_ERROR(Gemm(false, true, (x_end - x_begin) * spatial, cout, cin, 1.0f,
                                     x + (x_begin + shift) * frame_in, cin, w_tap, cin, 1.0f,
                                     y + x_begin * frame_out, cout, cublas, stream));
    }
    // Frames reading history: -history_frames <= f + shift < 0.
    const int64_t h_begin = std::max<int64_t>(0, -shift - history_frames);
    const int64_t h_end = std::min<int64_t>(frames, -shift);
    if (h_begin < h_end) {
      REEL_CUDA_RETURN_IF_ERROR(Gemm(false, true, (h_end - h_begin) * spatial, cout, cin, 1.0f,
                                     history + (history_frames + h_begin + shift) * frame_in, cin,
                                     w_tap, cin, 1.0f, y + h_begin * frame_out, cout, cublas,
                                     stream));
    }
  }
  return absl::OkStatus();
}

}  // namespace reel::kernels::cuda
