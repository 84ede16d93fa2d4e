#include "pipeline/tensor/ops.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/cast.h"
#include "kernels/cpu/causal_attention.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/linear_attention.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/softmax.h"
#include "pipeline/tensor/gpu_call.h"
#include "pipeline/tensor/ops_internal.h"
#include "pipeline/tensor/status_macros.h"

#ifdef REEL_HAVE_CUDA
#include "kernels/cuda/activation.h"
#include "kernels/cuda/cast.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemm_bf16.h"
#include "kernels/cuda/linear_attention.h"
#include "kernels/cuda/norm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/softmax.h"
#endif

namespace reel::ops {
namespace cpu = kernels::cpu;
#ifdef REEL_HAVE_CUDA
namespace gpu = kernels::cuda;
#endif
using internal::CheckF32;
using internal::Dense;
using internal::OptionalVector;
using internal::Output;
using internal::PtrOrNull;
using internal::SameDevice;
using internal::ShapeError;

namespace {

// A bf16 weight (e.g. mapped from a checkpoint) is widened panel by panel of output rows into one
// reused f32 buffer, so a call never holds a 4-byte copy of the whole matrix (CHECKPOINT.md
// "Memory"); each panel is one GEMM into its columns of y.
constexpr int64_t kBf16PanelRows = 256;

absl::Status GemmBf16Weight(const Tensor& xc, const Tensor& wc, int64_t rows, float beta,
                            Tensor& y) {
  const int64_t in = wc.dim(1), out_features = wc.dim(0);
  const int64_t panel = std::min(kBf16PanelRows, out_features);
  REEL_ASSIGN_OR_RETURN(Tensor buffer, Tensor::Empty({panel, in}));
  const uint16_t* w = wc.data<uint16_t>();
  for (int64_t o0 = 0; o0 < out_features; o0 += panel) {
    const int64_t n = std::min(panel, out_features - o0);
    cpu::Bf16ToF32(w + o0 * in, buffer.data<float>(), n * in);
    cpu::Gemm(false, true, rows, n, in, 1.0f, xc.data<float>(), in, buffer.data<float>(), in, beta,
              y.data<float>() + o0, out_features);
  }
  return absl::OkStatus();
}

// y = x wᵀ + bias on the GPU: a bf16 weight takes the tensor-core GEMM (x rounded to bf16, f32
// accumulation, bias fused), an f32 one cuBLAS's f32 GEMM over y pre-filled with the bias.
absl::Status LinearOnGpu(const Tensor& xc, const Tensor& wc, const Tensor* bias, const Tensor& bc,
                         int64_t rows, Tensor& y) {
#ifndef REEL_HAVE_CUDA
  REEL_ON_GPU(y, 0);
#else
  const int64_t in = wc.dim(1), out_features = wc.dim(0);
  if (wc.dtype() == DType::kBF16) {
    REEL_ON_GPU(y, gpu::LinearBf16(xc.data<float>(), rows, in, wc.data<uint16_t>(), out_features,
                                   PtrOrNull(bias, bc), y.data<float>(), ctx.stream));
    return absl::OkStatus();
  }
  float beta = 0.0f;
  if (bias != nullptr) {
    const int64_t shape[2] = {rows, out_features}, from[2] = {0, 1}, to[2] = {out_features, 1};
    REEL_ON_GPU(
        y, gpu::StridedCopy(2, shape, bc.data<float>(), from, y.data<float>(), to, 4, ctx.stream));
    beta = 1.0f;
  }
  REEL_ON_GPU(y, gpu::Gemm(false, true, rows, out_features, in, 1.0f, xc.data<float>(), in,
                           wc.data<float>(), in, beta, y.data<float>(), out_features, ctx.cublas,
                           ctx.stream));
  return absl::OkStatus();
#endif
}

}  // namespace

absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& w, const Tensor* bias,
                              Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("Linear", {&x, &w, bias}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "Linear", "x"));
  const bool bf16 = w.dtype() == DType::kBF16;
  REEL_ASSIGN_OR_RETURN(Tensor wc, bf16 ? w.Contiguous() : Dense(w, "Linear", "weight"));
  if (wc.rank() != 2 || xc.rank() < 1 || xc.dim(-1) != wc.dim(1)) {
    return ShapeError("Linear", absl::StrCat("x ", ShapeString(x.shape()), " does not fit weight ",
                                             ShapeString(w.shape())));
  }
  const int64_t in = wc.dim(1), out_features = wc.dim(0),
                rows = xc.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = xc.shape();
  out_shape.back() = out_features;
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(out_shape, xc, alloc));
  REEL_ASSIGN_OR_RETURN(Tensor bc, OptionalVector(bias, out_features, "Linear", "bias"));
  if (OnGpu(xc)) {
    REEL_RETURN_IF_ERROR(LinearOnGpu(xc, wc, bias, bc, rows, y));
    return y;
  }
  float beta = 0.0f;
  if (bias != nullptr) {
    float* yp = y.data<float>();
    const float* bp = bc.data<float>();
    for (int64_t r = 0; r < rows; ++r) std::memcpy(yp + r * out_features, bp, out_features * 4);
    beta = 1.0f;
  }
  if (bf16) {
    REEL_RETURN_IF_ERROR(GemmBf16Weight(xc, wc, rows, beta, y));
    return y;
  }
  cpu::Gemm(false, true, rows, out_features, in, 1.0f, xc.data<float>(), in, wc.data<float>(), in,
            beta, y.data<float>(), out_features);
  return y;
}

absl::StatusOr<Tensor> Matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
                              Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("Matmul", {&a, &b}));
  REEL_ASSIGN_OR_RETURN(Tensor ac, Dense(a, "Matmul", "a"));
  REEL_ASSIGN_OR_RETURN(Tensor bc, Dense(b, "Matmul", "b"));
  if (ac.rank() != bc.rank() || (ac.rank() != 2 && ac.rank() != 3) ||
      (ac.rank() == 3 && ac.dim(0) != bc.dim(0))) {
    return ShapeError("Matmul", absl::StrCat("unsupported shapes ", ShapeString(a.shape()), " x ",
                                             ShapeString(b.shape())));
  }
  const int64_t m = trans_a ? ac.dim(-1) : ac.dim(-2), k = trans_a ? ac.dim(-2) : ac.dim(-1);
  const int64_t kb = trans_b ? bc.dim(-1) : bc.dim(-2), n = trans_b ? bc.dim(-2) : bc.dim(-1);
  if (k != kb) {
    return ShapeError("Matmul", absl::StrCat("inner dims differ: ", ShapeString(a.shape()), " x ",
                                             ShapeString(b.shape())));
  }
  const int64_t batch = ac.rank() == 3 ? ac.dim(0) : 1;
  Shape out_shape = ac.rank() == 3 ? Shape{batch, m, n} : Shape{m, n};
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(out_shape, ac, alloc));
  if (OnGpu(ac)) {
    REEL_ON_GPU(ac, gpu::GemmBatched(trans_a, trans_b, batch, m, n, k, 1.0f, ac.data<float>(),
                                     ac.dim(-1), m * k, bc.data<float>(), bc.dim(-1), k * n, 0.0f,
                                     y.data<float>(), n, m * n, ctx.cublas, ctx.stream));
  } else {
    cpu::GemmBatched(trans_a, trans_b, batch, m, n, k, 1.0f, ac.data<float>(), ac.dim(-1), m * k,
                     bc.data<float>(), bc.dim(-1), k * n, 0.0f, y.data<float>(), n, m * n);
  }
  return y;
}

namespace {

// Broadcast shape per NumPy and the strides of `t` aligned to it (0 where broadcast).
absl::StatusOr<Shape> BroadcastShape(const Tensor& a, const Tensor& b) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
    const int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat("cannot broadcast ", ShapeString(a.shape()),
                                                     " with ", ShapeString(b.shape())));
    }
    out[i] = std::max(da, db) == 0 ? 0 : std::max(da, db);
  }
  return out;
}

Shape AlignedStrides(const Tensor& t, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  Shape s(rank, 0);
  for (int i = 0; i < t.rank(); ++i) {
    const int o = i + rank - t.rank();
    s[o] = t.dim(i) == 1 ? 0 : t.strides()[i];
  }
  return s;
}

}  // namespace

absl::StatusOr<Tensor> Binary(BinaryOp op, const Tensor& a, const Tensor& b, Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("Binary", {&a, &b}));
  REEL_RETURN_IF_ERROR(CheckF32(a, "Binary", "a"));
  REEL_RETURN_IF_ERROR(CheckF32(b, "Binary", "b"));
  REEL_ASSIGN_OR_RETURN(Shape shape, BroadcastShape(a, b));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(shape, a, alloc));
  if (y.numel() == 0) return y;
  const Shape sa = AlignedStrides(a, shape), sb = AlignedStrides(b, shape);
  const int rank = static_cast<int>(shape.size());
  if (OnGpu(a)) {
    REEL_ON_GPU(a, gpu::BinaryBroadcast(op, rank, shape.data(), a.data<float>(), sa.data(),
                                        b.data<float>(), sb.data(), y.data<float>(), ctx.stream));
  } else {
    cpu::BinaryBroadcast(op, rank, shape.data(), a.data<float>(), sa.data(), b.data<float>(),
                         sb.data(), y.data<float>());
  }
  return y;
}

absl::Status BinaryInPlace(BinaryOp op, Tensor& dst, const Tensor& b) {
  REEL_RETURN_IF_ERROR(SameDevice("BinaryInPlace", {&dst, &b}));
  REEL_RETURN_IF_ERROR(CheckF32(dst, "BinaryInPlace", "dst"));
  REEL_RETURN_IF_ERROR(CheckF32(b, "BinaryInPlace", "b"));
  if (!dst.is_contiguous()) return ShapeError("BinaryInPlace", "dst must be contiguous");
  REEL_ASSIGN_OR_RETURN(Shape shape, BroadcastShape(dst, b));
  if (shape != dst.shape()) {
    return ShapeError(
        "BinaryInPlace",
        absl::StrCat(ShapeString(b.shape()), " does not broadcast to ", ShapeString(dst.shape())));
  }
  if (dst.numel() == 0) return absl::OkStatus();
  const Shape sa = AlignedStrides(dst, shape), sb = AlignedStrides(b, shape);
  // Element i of the output only reads element i of dst, so aliasing out and a is safe.
  const int rank = static_cast<int>(shape.size());
  if (OnGpu(dst)) {
    REEL_ON_GPU(dst,
                gpu::BinaryBroadcast(op, rank, shape.data(), dst.data<float>(), sa.data(),
                                     b.data<float>(), sb.data(), dst.data<float>(), ctx.stream));
  } else {
    cpu::BinaryBroadcast(op, rank, shape.data(), dst.data<float>(), sa.data(), b.data<float>(),
                         sb.data(), dst.data<float>());
  }
  return absl::OkStatus();
}

absl::Status Axpby(float alpha, const Tensor& x, float beta, Tensor& y) {
  REEL_RETURN_IF_ERROR(SameDevice("Axpby", {&x, &y}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "Axpby", "x"));
  REEL_RETURN_IF_ERROR(CheckF32(y, "Axpby", "y"));
  if (!y.is_contiguous() || x.shape() != y.shape()) {
    return ShapeError("Axpby", absl::StrCat("x ", ShapeString(x.shape()), " vs contiguous y ",
                                            ShapeString(y.shape())));
  }
  if (OnGpu(y)) {
    REEL_ON_GPU(y,
                gpu::Axpby(y.numel(), alpha, xc.data<float>(), beta, y.data<float>(), ctx.stream));
  } else {
    cpu::Axpby(y.numel(), alpha, xc.data<float>(), beta, y.data<float>());
  }
  return absl::OkStatus();
}

absl::StatusOr<AbsDiffSums> SumAbsDiff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    return ShapeError("SumAbsDiff",
                      absl::StrCat(ShapeString(a.shape()), " vs ", ShapeString(b.shape())));
  }
  REEL_RETURN_IF_ERROR(SameDevice("SumAbsDiff", {&a, &b}));
  REEL_ASSIGN_OR_RETURN(Tensor ac, Dense(a, "SumAbsDiff", "a"));
  REEL_ASSIGN_OR_RETURN(Tensor bc, Dense(b, "SumAbsDiff", "b"));
  AbsDiffSums s;
  if (OnGpu(ac)) {
    REEL_ON_GPU(ac, gpu::AbsDiffSums(ac.numel(), ac.data<float>(), bc.data<float>(), &s.diff,
                                     &s.ref, ctx.stream));
  } else {
    cpu::AbsDiffSums(ac.numel(), ac.data<float>(), bc.data<float>(), &s.diff, &s.ref);
  }
  return s;
}

absl::StatusOr<Tensor> Activate(const Tensor& x, Activation act, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "Activate", "x"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::Activate(act, xc.data<float>(), y.data<float>(), y.numel(), ctx.stream));
  } else {
    cpu::Activate(act, xc.data<float>(), y.data<float>(), y.numel());
  }
  return y;
}

absl::StatusOr<Tensor> SiluGate(const Tensor& x, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "SiluGate", "x"));
  if (xc.rank() < 1 || xc.dim(-1) % 2 != 0) {
    return ShapeError("SiluGate",
                      absl::StrCat("last dim of ", ShapeString(x.shape()), " must be even"));
  }
  Shape shape = xc.shape();
  shape.back() /= 2;
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(shape, xc, alloc));
  const int64_t rows = y.numel() / std::max<int64_t>(shape.back(), 1);
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc,
                gpu::SiluGate(xc.data<float>(), y.data<float>(), rows, shape.back(), ctx.stream));
  } else {
    cpu::SiluGate(xc.data<float>(), y.data<float>(), rows, shape.back());
  }
  return y;
}

absl::StatusOr<Tensor> LayerNorm(const Tensor& x, float eps, const Tensor* gamma,
                                 const Tensor* beta, Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("LayerNorm", {&x, gamma, beta}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "LayerNorm", "x"));
  const int64_t cols = xc.dim(-1), rows = xc.numel() / std::max<int64_t>(cols, 1);
  REEL_ASSIGN_OR_RETURN(Tensor g, OptionalVector(gamma, cols, "LayerNorm", "gamma"));
  REEL_ASSIGN_OR_RETURN(Tensor b, OptionalVector(beta, cols, "LayerNorm", "beta"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::LayerNorm(xc.data<float>(), y.data<float>(), rows, cols, eps,
                                   PtrOrNull(gamma, g), PtrOrNull(beta, b), ctx.stream));
  } else {
    cpu::LayerNorm(xc.data<float>(), y.data<float>(), rows, cols, eps, PtrOrNull(gamma, g),
                   PtrOrNull(beta, b));
  }
  return y;
}

absl::StatusOr<Tensor> RmsNorm(const Tensor& x, float eps, const Tensor* weight, Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("RmsNorm", {&x, weight}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "RmsNorm", "x"));
  const int64_t cols = xc.dim(-1), rows = xc.numel() / std::max<int64_t>(cols, 1);
  REEL_ASSIGN_OR_RETURN(Tensor w, OptionalVector(weight, cols, "RmsNorm", "weight"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::RmsNorm(xc.data<float>(), y.data<float>(), rows, cols, eps,
                                 PtrOrNull(weight, w), ctx.stream));
  } else {
    cpu::RmsNorm(xc.data<float>(), y.data<float>(), rows, cols, eps, PtrOrNull(weight, w));
  }
  return y;
}

absl::StatusOr<Tensor> LayerNormModulate(const Tensor& x, float eps, const Tensor& shift,
                                         const Tensor& scale, Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("LayerNormModulate", {&x, &shift, &scale}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "LayerNormModulate", "x"));
  REEL_ASSIGN_OR_RETURN(Tensor sh, Dense(shift, "LayerNormModulate", "shift"));
  REEL_ASSIGN_OR_RETURN(Tensor sc, Dense(scale, "LayerNormModulate", "scale"));
  const int64_t cols = xc.dim(-1), rows = xc.numel() / std::max<int64_t>(cols, 1);
  int64_t stride = 0;
  if (sh.numel() == rows * cols && rows > 1) stride = cols;
  if (sh.numel() != sc.numel() || (sh.numel() != cols && sh.numel() != rows * cols)) {
    return ShapeError("LayerNormModulate",
                      absl::StrCat("shift ", ShapeString(shift.shape()), ", scale ",
                                   ShapeString(scale.shape()), " for x ", ShapeString(x.shape())));
  }
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::LayerNormModulate(xc.data<float>(), y.data<float>(), rows, cols, eps,
                                           sh.data<float>(), sc.data<float>(), stride, ctx.stream));
  } else {
    cpu::LayerNormModulate(xc.data<float>(), y.data<float>(), rows, cols, eps, sh.data<float>(),
                           sc.data<float>(), stride);
  }
  return y;
}

absl::StatusOr<Tensor> Softmax(const Tensor& x, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "Softmax", "x"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  const int64_t cols = xc.dim(-1), rows = xc.numel() / std::max<int64_t>(cols, 1);
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::Softmax(xc.data<float>(), y.data<float>(), rows, cols, ctx.stream));
  } else {
    cpu::Softmax(xc.data<float>(), y.data<float>(), rows, cols);
  }
  return y;
}

absl::StatusOr<Tensor> SoftmaxAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor* key_mask, int64_t heads, float scale,
                                        Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("SoftmaxAttention", {&q, &k, &v, key_mask}));
  REEL_ASSIGN_OR_RETURN(Tensor qc, Dense(q, "SoftmaxAttention", "q"));
  REEL_ASSIGN_OR_RETURN(Tensor kc, Dense(k, "SoftmaxAttention", "k"));
  REEL_ASSIGN_OR_RETURN(Tensor vc, Dense(v, "SoftmaxAttention", "v"));
  if (qc.rank() != 2 || kc.rank() != 2 || kc.shape() != vc.shape() || qc.dim(1) != kc.dim(1) ||
      heads <= 0 || qc.dim(1) % heads != 0) {
    return ShapeError("SoftmaxAttention",
                      absl::StrCat("q ", ShapeString(q.shape()), " k ", ShapeString(k.shape()),
                                   " v ", ShapeString(v.shape()), " heads ", heads));
  }
  REEL_ASSIGN_OR_RETURN(Tensor m,
                        OptionalVector(key_mask, kc.dim(0), "SoftmaxAttention", "key_mask"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(qc.shape(), qc, alloc));
  if (OnGpu(qc)) {
    REEL_ON_GPU(qc, gpu::SoftmaxAttention(qc.data<float>(), kc.data<float>(), vc.data<float>(),
                                          PtrOrNull(key_mask, m), qc.dim(0), kc.dim(0), heads,
                                          qc.dim(1) / heads, scale, y.data<float>(), ctx.cublas,
                                          ctx.stream));
  } else {
    cpu::SoftmaxAttention(qc.data<float>(), kc.data<float>(), vc.data<float>(),
                          PtrOrNull(key_mask, m), qc.dim(0), kc.dim(0), heads, qc.dim(1) / heads,
                          scale, y.data<float>());
  }
  return y;
}

absl::StatusOr<Tensor> DepthwiseConv2d3x3(const Tensor& x, const Tensor& weight, const Tensor* bias,
                                          Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("DepthwiseConv2d3x3", {&x, &weight, bias}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "DepthwiseConv2d3x3", "x"));
  REEL_ASSIGN_OR_RETURN(Tensor wc, Dense(weight, "DepthwiseConv2d3x3", "weight"));
  if (xc.rank() != 4 || wc.numel() != xc.dim(3) * 9) {
    return ShapeError("DepthwiseConv2d3x3", absl::StrCat("x ", ShapeString(x.shape()), " weight ",
                                                         ShapeString(weight.shape())));
  }
  REEL_ASSIGN_OR_RETURN(Tensor b, OptionalVector(bias, xc.dim(3), "DepthwiseConv2d3x3", "bias"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::DepthwiseConv2d3x3(xc.data<float>(), wc.data<float>(), PtrOrNull(bias, b),
                                            y.data<float>(), xc.dim(0), xc.dim(1), xc.dim(2),
                                            xc.dim(3), ctx.stream));
  } else {
    cpu::DepthwiseConv2d3x3(xc.data<float>(), wc.data<float>(), PtrOrNull(bias, b), y.data<float>(),
                            xc.dim(0), xc.dim(1), xc.dim(2), xc.dim(3));
  }
  return y;
}

namespace {

// The temporal conv with a bf16 weight on the GPU: x and history rounded to bf16 once, the weight
// re-laid tap-major (3, cout, cin), then per tap at most two tensor-core GEMMs (rows whose source
// frame is in x, rows whose source frame is in the history) accumulating into y. Frame f of y
// reads source frame s = f + k - pad_front of history ++ x (kernels/cpu/conv.h). y arrives zeroed.
absl::Status TemporalConvBf16OnGpu(const Tensor& xc, const Tensor& hc, int64_t hist_frames,
                                   const Tensor& weight, int pad_front, Tensor& y) {
#ifndef REEL_HAVE_CUDA
  REEL_ON_GPU(y, 0);
#else
  const int64_t frames = xc.dim(0), spatial = xc.dim(1), cin = xc.dim(2), cout = weight.dim(0);
  REEL_ASSIGN_OR_RETURN(Tensor x16, Cast(xc, DType::kBF16));
  Tensor h16;
  if (hist_frames > 0) {
    REEL_ASSIGN_OR_RETURN(h16, Cast(hc, DType::kBF16));
  }
  REEL_ASSIGN_OR_RETURN(Tensor w3, weight.Reshape({cout, cin, 3}));
  REEL_ASSIGN_OR_RETURN(Tensor taps_view, w3.Permute({2, 0, 1}));
  REEL_ASSIGN_OR_RETURN(Tensor taps, taps_view.Contiguous());
  const int64_t frame_in = spatial * cin, frame_out = spatial * cout;
  for (int k = 0; k < 3; ++k) {
    const uint16_t* tap = taps.data<uint16_t>() + k * cout * cin;
    // Output frames [f0, f1) read x frames [f0 + k - pad, ...).
    const int64_t shift = k - pad_front;
    const int64_t fx0 = std::max<int64_t>(0, -shift), fx1 = std::min(frames, frames - shift);
    if (fx1 > fx0) {
      REEL_ON_GPU(
          y, gpu::GemmBf16(true, (fx1 - fx0) * spatial, cout, cin, 1.0f,
                           x16.data<uint16_t>() + (fx0 + shift) * frame_in, cin, tap, cin, 1.0f,
                           y.data<float>() + fx0 * frame_out, cout, nullptr, ctx.stream));
    }
    // Output frames whose source frame f + shift is negative read history frame
    // hist_frames + f + shift.
    const int64_t fh0 = std::max<int64_t>(0, -shift - hist_frames), fh1 = std::min(frames, -shift);
    if (hist_frames > 0 && fh1 > fh0) {
      REEL_ON_GPU(y, gpu::GemmBf16(true, (fh1 - fh0) * spatial, cout, cin, 1.0f,
                                   h16.data<uint16_t>() + (hist_frames + fh0 + shift) * frame_in,
                                   cin, tap, cin, 1.0f, y.data<float>() + fh0 * frame_out, cout,
                                   nullptr, ctx.stream));
    }
  }
  return absl::OkStatus();
#endif
}

}  // namespace

absl::StatusOr<Tensor> TemporalConv3(const Tensor& x, const Tensor& history, const Tensor& weight,
                                     int pad_front, Allocator* alloc) {
  REEL_RETURN_IF_ERROR(
      SameDevice("TemporalConv3", {&x, history.defined() ? &history : nullptr, &weight}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, "TemporalConv3", "x"));
  // On the CPU the kernel re-lays the weight out per call anyway (one f32 copy per tap order), so a
  // bf16 weight is widened for the call only; on a GPU it takes bf16 tensor-core GEMMs.
  const bool gpu_bf16 = OnGpu(xc) && weight.dtype() == DType::kBF16;
  Tensor wc;
  if (gpu_bf16) {
    REEL_ASSIGN_OR_RETURN(wc, weight.Contiguous());
  } else if (weight.dtype() == DType::kBF16) {
    REEL_ASSIGN_OR_RETURN(wc, Cast(weight, DType::kF32));
  } else {
    REEL_ASSIGN_OR_RETURN(wc, Dense(weight, "TemporalConv3", "weight"));
  }
  if (xc.rank() != 3 || wc.dim(1) != xc.dim(2) || wc.numel() != wc.dim(0) * xc.dim(2) * 3 ||
      (pad_front != 1 && pad_front != 2)) {
    return ShapeError("TemporalConv3",
                      absl::StrCat("x ", ShapeString(x.shape()), " weight ",
                                   ShapeString(weight.shape()), " pad ", pad_front));
  }
  Tensor hc;
  int64_t hist_frames = 0;
  if (history.defined() && history.numel() > 0) {
    REEL_ASSIGN_OR_RETURN(hc, Dense(history, "TemporalConv3", "history"));
    if (hc.rank() != 3 || hc.dim(1) != xc.dim(1) || hc.dim(2) != xc.dim(2)) {
      return ShapeError("TemporalConv3", absl::StrCat("history ", ShapeString(history.shape()),
                                                      " for x ", ShapeString(x.shape())));
    }
    hist_frames = hc.dim(0);
  }
  const int64_t cout = wc.dim(0);
  // The bf16 path accumulates its per-tap GEMMs into y, so it starts from zeros.
  REEL_ASSIGN_OR_RETURN(Tensor y,
                        gpu_bf16 ? internal::ZeroedOutput({xc.dim(0), xc.dim(1), cout}, xc, alloc)
                                 : Output({xc.dim(0), xc.dim(1), cout}, xc, alloc));
  if (gpu_bf16) {
    REEL_RETURN_IF_ERROR(TemporalConvBf16OnGpu(xc, hc, hist_frames, wc, pad_front, y));
    return y;
  }
  const float* hp = hist_frames > 0 ? hc.data<float>() : nullptr;
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, gpu::TemporalConv3(xc.data<float>(), hp, hist_frames, xc.dim(0), xc.dim(1),
                                       xc.dim(2), wc.data<float>(), cout, pad_front, false,
                                       y.data<float>(), ctx.cublas, ctx.stream));
  } else {
    cpu::TemporalConv3(xc.data<float>(), hp, hist_frames, xc.dim(0), xc.dim(1), xc.dim(2),
                       wc.data<float>(), cout, pad_front, false, y.data<float>());
  }
  return y;
}

namespace {

using RopeKernel = void (*)(const float*, float*, int64_t, int64_t, int64_t, const float*,
                            const float*);

absl::StatusOr<Tensor> RopeWith(RopeKernel kernel, bool half_convention, const char* op,
                                const Tensor& x, const Tensor& cos, const Tensor& sin,
                                int64_t heads, Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice(op, {&x, &cos, &sin}));
  REEL_ASSIGN_OR_RETURN(Tensor xc, Dense(x, op, "x"));
  REEL_ASSIGN_OR_RETURN(Tensor cc, Dense(cos, op, "cos"));
  REEL_ASSIGN_OR_RETURN(Tensor sc, Dense(sin, op, "sin"));
  const int64_t rows = xc.dim(0), d = heads > 0 ? xc.dim(1) / heads : 0;
  if (xc.rank() != 2 || d % 2 != 0 || d * heads != xc.dim(1) || cc.numel() != rows * d / 2 ||
      sc.numel() != cc.numel()) {
    return ShapeError(op, absl::StrCat("x ", ShapeString(x.shape()), " cos ",
                                       ShapeString(cos.shape()), " heads ", heads));
  }
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc));
  if (OnGpu(xc)) {
    REEL_ON_GPU(xc, (half_convention ? gpu::RopeApplyHalf : gpu::RopeApply)(
                        xc.data<float>(), y.data<float>(), rows, heads, d, cc.data<float>(),
                        sc.data<float>(), ctx.stream));
  } else {
    kernel(xc.data<float>(), y.data<float>(), rows, heads, d, cc.data<float>(), sc.data<float>());
  }
  return y;
}

}  // namespace

absl::StatusOr<Tensor> RopeApply(const Tensor& x, const Tensor& cos, const Tensor& sin,
                                 int64_t heads, Allocator* alloc) {
  return RopeWith(cpu::RopeApply, false, "RopeApply", x, cos, sin, heads, alloc);
}

absl::StatusOr<Tensor> RopeApplyHalf(const Tensor& x, const Tensor& cos, const Tensor& sin,
                                     int64_t heads, Allocator* alloc) {
  return RopeWith(cpu::RopeApplyHalf, true, "RopeApplyHalf", x, cos, sin, heads, alloc);
}

absl::StatusOr<Tensor> CausalSoftmaxAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const Tensor* key_mask,
                                              const CausalAttentionParams& params,
                                              Allocator* alloc) {
  const char* op = "CausalSoftmaxAttention";
  if (OnGpu(q)) {
    // Only the Gemma-2 text encoder uses it, once per request; it runs on the CPU backend.
    return absl::UnimplementedError(
        "CausalSoftmaxAttention has no CUDA kernel: run the text encoder on the CPU");
  }
  REEL_ASSIGN_OR_RETURN(Tensor qc, Dense(q, op, "q"));
  REEL_ASSIGN_OR_RETURN(Tensor kc, Dense(k, op, "k"));
  REEL_ASSIGN_OR_RETURN(Tensor vc, Dense(v, op, "v"));
  const int64_t heads = params.heads, kv_heads = params.kv_heads;
  const int64_t d = heads > 0 ? qc.dim(-1) / heads : 0;
  if (qc.rank() != 2 || kc.rank() != 2 || kc.shape() != vc.shape() || qc.dim(0) != kc.dim(0) ||
      heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || d * heads != qc.dim(1) ||
      d * kv_heads != kc.dim(1) || params.window < 0) {
    return ShapeError(op, absl::StrCat("q ", ShapeString(q.shape()), " k ", ShapeString(k.shape()),
                                       " v ", ShapeString(v.shape()), " heads ", heads, "/",
                                       kv_heads, " window ", params.window));
  }
  REEL_ASSIGN_OR_RETURN(Tensor m, OptionalVector(key_mask, kc.dim(0), op, "key_mask"));
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(qc.shape(), qc, alloc));
  cpu::CausalSoftmaxAttention(qc.data<float>(), kc.data<float>(), vc.data<float>(),
                              PtrOrNull(key_mask, m), qc.dim(0), heads, kv_heads, d, params.window,
                              params.scale, params.softcap, y.data<float>());
  return y;
}

absl::Status LinearAttentionAccumulate(const Tensor& k_rot, const Tensor& k, const Tensor& v,
                                       int64_t heads, Tensor& kv, Tensor& ksum) {
  REEL_RETURN_IF_ERROR(SameDevice("LinearAttentionAccumulate", {&k_rot, &k, &v, &kv, &ksum}));
  REEL_ASSIGN_OR_RETURN(Tensor krc, Dense(k_rot, "LinearAttentionAccumulate", "k_rot"));
  REEL_ASSIGN_OR_RETURN(Tensor kc, Dense(k, "LinearAttentionAccumulate", "k"));
  REEL_ASSIGN_OR_RETURN(Tensor vc, Dense(v, "LinearAttentionAccumulate", "v"));
  REEL_RETURN_IF_ERROR(CheckF32(kv, "LinearAttentionAccumulate", "kv"));
  REEL_RETURN_IF_ERROR(CheckF32(ksum, "LinearAttentionAccumulate", "ksum"));
  const int64_t n = kc.dim(0), d = heads > 0 ? kc.dim(1) / heads : 0;
  if (kc.rank() != 2 || krc.shape() != kc.shape() || vc.shape() != kc.shape() ||
      d * heads != kc.dim(1) || kv.numel() != heads * d * d || ksum.numel() != heads * d ||
      !kv.is_contiguous() || !ksum.is_contiguous()) {
    return ShapeError(
        "LinearAttentionAccumulate",
        absl::StrCat("k ", ShapeString(k.shape()), " v ", ShapeString(v.shape()), " kv ",
                     ShapeString(kv.shape()), " ksum ", ShapeString(ksum.shape())));
  }
  if (OnGpu(kc)) {
    REEL_ON_GPU(kc, gpu::LinearAttentionAccumulate(krc.data<float>(), kc.data<float>(),
                                                   vc.data<float>(), n, heads, d, kv.data<float>(),
                                                   ksum.data<float>(), ctx.cublas, ctx.stream));
  } else {
    cpu::LinearAttentionAccumulate(krc.data<float>(), kc.data<float>(), vc.data<float>(), n, heads,
                                   d, kv.data<float>(), ksum.data<float>());
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> LinearAttentionApply(const Tensor& q_rot, const Tensor& q, const Tensor& kv,
                                            const Tensor& ksum, int64_t heads, float eps,
                                            Allocator* alloc) {
  REEL_RETURN_IF_ERROR(SameDevice("LinearAttentionApply", {&q_rot, &q, &kv, &ksum}));
  REEL_ASSIGN_OR_RETURN(Tensor qrc, Dense(q_rot, "LinearAttentionApply", "q_rot"));
  REEL_ASSIGN_OR_RETURN(Tensor qc, Dense(q, "LinearAttentionApply", "q"));
  REEL_ASSIGN_OR_RETURN(Tensor kvc, Dense(kv, "LinearAttentionApply", "kv"));
  REEL_ASSIGN_OR_RETURN(Tensor ksc, Dense(ksum, "LinearAttentionApply", "ksum"));
  const int64_t n = qc.dim(0), d = heads > 0 ? qc.dim(1) / heads : 0;
  if (qc.rank() != 2 || qrc.shape() != qc.shape() || d * heads != qc.dim(1) ||
      kvc.numel() != heads * d * d || ksc.numel() != heads * d) {
    return ShapeError("LinearAttentionApply",
                      absl::StrCat("q ", ShapeString(q.shape()), " kv ", ShapeString(kv.shape())));
  }
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(qc.shape(), qc, alloc));
  if (OnGpu(qc)) {
    REEL_ON_GPU(qc, gpu::LinearAttentionApply(qrc.data<float>(), qc.data<float>(),
                                              kvc.data<float>(), ksc.data<float>(), n, heads, d,
                                              eps, y.data<float>(), ctx.cublas, ctx.stream));
  } else {
    cpu::LinearAttentionApply(qrc.data<float>(), qc.data<float>(), kvc.data<float>(),
                              ksc.data<float>(), n, heads, d, eps, y.data<float>());
  }
  return y;
}

absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> parts, int dim, Allocator* alloc) {
  if (parts.empty()) return ShapeError("Concat", "no tensors");
  const Tensor& first = parts[0];
  if (dim < 0) dim += first.rank();
  if (dim < 0 || dim >= first.rank()) return ShapeError("Concat", "bad dim");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (const Tensor& p : parts) {
    if (p.rank() != first.rank() || p.dtype() != first.dtype() || !(p.device() == first.device())) {
      return ShapeError("Concat", "rank/dtype/device mismatch");
    }
    for (int i = 0; i < p.rank(); ++i) {
      if (i != dim && p.dim(i) != first.dim(i)) {
        return ShapeError("Concat", absl::StrCat(ShapeString(p.shape()), " vs ",
                                                 ShapeString(first.shape()), " on dim ", i));
      }
    }
    shape[dim] += p.dim(dim);
  }
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(shape, first, alloc, first.dtype()));
  int64_t at = 0;
  for (const Tensor& p : parts) {
    REEL_ASSIGN_OR_RETURN(Tensor dst, y.Slice(dim, at, at + p.dim(dim)));
    REEL_RETURN_IF_ERROR(Copy(p, dst));
    at += p.dim(dim);
  }
  return y;
}

absl::StatusOr<std::vector<Tensor>> Chunk(const Tensor& x, int n, int dim) {
  if (dim < 0) dim += x.rank();
  if (n <= 0 || dim < 0 || dim >= x.rank() || x.dim(dim) % n != 0) {
    return ShapeError("Chunk", absl::StrCat(ShapeString(x.shape()), " into ", n, " on dim ", dim));
  }
  std::vector<Tensor> out;
  const int64_t step = x.dim(dim) / n;
  for (int i = 0; i < n; ++i) {
    REEL_ASSIGN_OR_RETURN(Tensor s, x.Slice(dim, i * step, (i + 1) * step));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<Tensor> Cast(const Tensor& x, DType dtype, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(Tensor xc, x.Contiguous());
  if (x.dtype() == dtype) {
    const bool here = alloc != nullptr && alloc->device() == xc.device();
    return xc.Clone(here ? alloc : nullptr);
  }
  const bool gpu = OnGpu(xc);
  const int64_t n = xc.numel();
  // Widen to f32 first (16-bit to 16-bit goes through f32, as the CPU kernels do).
  Tensor f32 = xc;
  if (x.dtype() != DType::kF32) {
    REEL_ASSIGN_OR_RETURN(f32, Output(xc.shape(), xc, alloc));
    const uint16_t* from = xc.data<uint16_t>();
    float* to = f32.data<float>();
    if (x.dtype() == DType::kF16) {
      if (gpu) {
        REEL_ON_GPU(xc, gpu::F16ToF32(from, to, n, ctx.stream));
      } else {
        cpu::F16ToF32(from, to, n);
      }
    } else if (gpu) {
      REEL_ON_GPU(xc, gpu::Bf16ToF32(from, to, n, ctx.stream));
    } else {
      cpu::Bf16ToF32(from, to, n);
    }
  }
  if (dtype == DType::kF32) return f32;
  REEL_ASSIGN_OR_RETURN(Tensor y, Output(xc.shape(), xc, alloc, dtype));
  const float* from = f32.data<float>();
  uint16_t* to = y.data<uint16_t>();
  if (dtype == DType::kF16) {
    if (gpu) {
      REEL_ON_GPU(xc, gpu::F32ToF16(from, to, n, ctx.stream));
    } else {
      cpu::F32ToF16(from, to, n);
    }
  } else if (gpu) {
    REEL_ON_GPU(xc, gpu::F32ToBf16(from, to, n, ctx.stream));
  } else {
    cpu::F32ToBf16(from, to, n);
  }
  return y;
}

absl::Status Copy(const Tensor& src, Tensor& dst) {
  if (src.shape() != dst.shape() || src.dtype() != dst.dtype()) {
    return ShapeError("Copy",
                      absl::StrCat(ShapeString(src.shape()), " ", DTypeName(src.dtype()), " into ",
                                   ShapeString(dst.shape()), " ", DTypeName(dst.dtype())));
  }
  REEL_RETURN_IF_ERROR(SameDevice("Copy", {&src, &dst}));
  if (src.numel() == 0) return absl::OkStatus();
  const int elem = static_cast<int>(DTypeSize(src.dtype()));
  if (OnGpu(src)) {
    REEL_ON_GPU(
        src, gpu::StridedCopy(src.rank(), src.shape().data(), src.raw_data(), src.strides().data(),
                              dst.raw_data(), dst.strides().data(), elem, ctx.stream));
  } else {
    cpu::StridedCopy(src.rank(), src.shape().data(), src.raw_data(), src.strides().data(),
                     dst.raw_data(), dst.strides().data(), elem);
  }
  return absl::OkStatus();
}

}  // namespace reel::ops
