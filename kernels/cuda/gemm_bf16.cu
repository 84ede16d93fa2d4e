#include <atomic>
#include <map>
#include <mutex>

#include "kernels/cuda/cast.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/gemm_bf16.h"
#include "kernels/cuda/gemm_bf16_lt.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

std::atomic<int64_t> lt_calls{0};
std::atomic<int64_t> gemm_ex_calls{0};

// C = beta * C + bias (bias per column, optional): the whole GEMM when k == 0 or alpha == 0, and
// the fallback's way to add the bias (cublasGemmEx has no epilogue) before it accumulates with
// beta = 1. beta == 0 writes without reading C, as BLAS does.
__global__ void ScaleAddBiasKernel(int64_t m, int64_t n, float beta, float* c, int64_t ldc,
                                   const float* bias) {
  const int64_t total = m * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / n, col = i % n;
    float* p = c + row * ldc + col;
    const float scaled = beta == 0.0f ? 0.0f : beta * *p;
    *p = bias != nullptr ? scaled + bias[col] : scaled;
  }
}

absl::Status ScaleAddBias(int64_t m, int64_t n, float beta, float* c, int64_t ldc,
                          const float* bias, cudaStream_t stream) {
  ScaleAddBiasKernel<<<BlocksFor(m * n), kThreads, 0, stream>>>(m, n, beta, c, ldc, bias);
  return internal::LaunchStatus("ScaleAddBias");
}

absl::Status CheckLd(const char* name, int64_t ld, int64_t cols) {
  if (ld >= cols) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("GemmBf16: ", name, " = ", ld, " is shorter than a row of ", cols, " elements"));
}

// One cuBLAS handle per device for the fallback, shared by every caller: GemmBf16's signature has
// none, and the route is rare (unaligned shapes). The lock covers binding the stream and queueing
// the GEMM (no waiting on the device), so concurrent callers cannot swap each other's stream.
// Never destroyed, like the cuBLASLt handles (gemm_bf16_lt.cc).
struct FallbackHandles {
  std::mutex mu;
  std::map<int, cublasHandle_t> by_device;
};

absl::Status GemmExFallback(const internal::Bf16GemmOperands& g, cudaStream_t stream) {
  const absl::StatusOr<const CublasApi*> loaded = Cublas();
  if (!loaded.ok()) return loaded.status();
  const CublasApi& api = **loaded;
  float beta = g.beta;
  if (g.bias != nullptr) {
    // C = alpha·A·op(B) + (beta·C + bias): the bias goes in first, then one accumulating GEMM.
    REEL_CUDA_RETURN_IF_ERROR(ScaleAddBias(g.m, g.n, g.beta, g.c, g.ldc, g.bias, stream));
    beta = 1.0f;
  }
  int device = 0;
  REEL_CUDA_RETURN_IF_ERROR(FromCudaError(cudaGetDevice(&device), "cudaGetDevice"));
  static FallbackHandles* const handles = new FallbackHandles();
  std::lock_guard<std::mutex> lock(handles->mu);
  cublasHandle_t& handle = handles->by_device[device];
  if (handle == nullptr) {
    // Default math: the bf16 inputs use tensor cores with f32 accumulation.
    REEL_CUDA_RETURN_IF_ERROR(FromCublasStatus(api.create(&handle), "cublasCreate"));
  }
  REEL_CUDA_RETURN_IF_ERROR(FromCublasStatus(api.set_stream(handle, stream), "cublasSetStream"));
  // Row-major through column-major by swapping the operands, as in gemm.cu.
  return FromCublasStatus(
      api.gemm_ex(handle, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, g.n, g.m, g.k,
                  &g.alpha, g.b, CUDA_R_16BF, g.ldb, g.a, CUDA_R_16BF, g.lda, &beta, g.c,
                  CUDA_R_32F, g.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      absl::StrCat("cublasGemmEx bf16 m=", g.m, " n=", g.n, " k=", g.k));
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool GemmBf16UsesLt(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, const float* c,
                    int64_t ldc, const float* bias) {
  return Aligned16(a) && Aligned16(b) && Aligned16(c) && (bias == nullptr || Aligned16(bias)) &&
         lda % 8 == 0 && ldb % 8 == 0 && ldc % 4 == 0;
}

GemmBf16RouteCounts GemmBf16Routes() {
  GemmBf16RouteCounts counts;
  counts.lt = lt_calls.load();
  counts.gemm_ex = gemm_ex_calls.load();
  return counts;
}

absl::Status GemmBf16(bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
                      int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                      int64_t ldc, const float* bias, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("GemmBf16", {m, n, k}));
  if (m == 0 || n == 0) return absl::OkStatus();
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBf16", "c", c));
  REEL_CUDA_RETURN_IF_ERROR(CheckLd("ldc", ldc, n));
  if (k == 0 || alpha == 0.0f) return ScaleAddBias(m, n, beta, c, ldc, bias, stream);
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBf16", "a", a));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBf16", "b", b));
  REEL_CUDA_RETURN_IF_ERROR(CheckLd("lda", lda, k));
  REEL_CUDA_RETURN_IF_ERROR(CheckLd("ldb", ldb, trans_b ? k : n));

  internal::Bf16GemmOperands g;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = alpha;
  g.a = a;
  g.lda = lda;
  g.b = b;
  g.ldb = ldb;
  g.beta = beta;
  g.c = c;
  g.ldc = ldc;
  g.bias = bias;
  if (GemmBf16UsesLt(a, lda, b, ldb, c, ldc, bias)) {
    const absl::StatusOr<bool> ran = internal::LtGemmBf16(g, stream);
    if (!ran.ok()) return ran.status();
    if (*ran) {
      lt_calls.fetch_add(1);
      return absl::OkStatus();
    }
  }
  gemm_ex_calls.fetch_add(1);
  return GemmExFallback(g, stream);
}

absl::Status LinearBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out,
                        const float* bias, float* y, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("LinearBf16", {rows, in, out}));
  if (rows == 0 || out == 0) return absl::OkStatus();
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("LinearBf16", "y", y));
  if (in == 0) {
    return GemmBf16(true, rows, out, 0, 1.0f, nullptr, 0, nullptr, 0, 0.0f, y, out, bias, stream);
  }
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("LinearBf16", "x", x));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("LinearBf16", "w", w));
  const auto x_begin = reinterpret_cast<uintptr_t>(x);
  const auto x_end = reinterpret_cast<uintptr_t>(x + rows * in);
  const auto y_begin = reinterpret_cast<uintptr_t>(y);
  const auto y_end = reinterpret_cast<uintptr_t>(y + rows * out);
  if (x_begin < y_end && y_begin < x_end) {
    return absl::InvalidArgumentError("LinearBf16: y overlaps x");
  }
  absl::StatusOr<StreamBuffer> x_bf16 =
      StreamBuffer::Allocate(static_cast<size_t>(rows * in) * sizeof(uint16_t), stream);
  if (!x_bf16.ok()) return x_bf16.status();
  REEL_CUDA_RETURN_IF_ERROR(F32ToBf16(x, x_bf16->as<uint16_t>(), rows * in, stream));
  return GemmBf16(true, rows, out, in, 1.0f, x_bf16->as<uint16_t>(), in, w, in, 0.0f, y, out, bias,
                  stream);
}

}  // namespace reel::kernels::cuda
