#include <algorithm>

#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/internal.cuh"

namespace reel::kernels::cuda {
namespace {

using internal::BlocksFor;
using internal::kThreads;

// C = beta * C for the degenerate cases (k == 0 or alpha == 0) where BLAS may reject the leading
// dimensions; beta == 0 writes zeros without reading C, as BLAS does.
__global__ void ScaleMatrixKernel(int64_t batch, int64_t m, int64_t n, float beta, float* c,
                                  int64_t ldc, int64_t stride_c) {
  const int64_t total = batch * m * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t col = i % n;
    const int64_t row = (i / n) % m;
    const int64_t mat = i / (n * m);
    float* p = c + mat * stride_c + row * ldc + col;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

// Leading dimensions must cover a row even when a matrix is empty, as BLAS insists (like the CPU).
int64_t Ld(int64_t ld, int64_t cols) { return std::max<int64_t>(ld, std::max<int64_t>(cols, 1)); }

cublasOperation_t Op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

absl::Status GemmBatched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k,
                         float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                         int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                         int64_t stride_c, cublasHandle_t cublas, cudaStream_t stream) {
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckSizes("GemmBatched", {batch, m, n, k}));
  if (batch == 0 || m == 0 || n == 0) return absl::OkStatus();
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBatched", "c", c));
  ldc = Ld(ldc, n);
  if (k == 0 || alpha == 0.0f) {
    ScaleMatrixKernel<<<BlocksFor(batch * m * n), kThreads, 0, stream>>>(batch, m, n, beta, c, ldc,
                                                                         stride_c);
    return internal::LaunchStatus("ScaleMatrix");
  }
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBatched", "a", a));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBatched", "b", b));
  REEL_CUDA_RETURN_IF_ERROR(internal::CheckNotNull("GemmBatched", "cublas handle", cublas));
  lda = Ld(lda, trans_a ? m : k);
  ldb = Ld(ldb, trans_b ? k : n);
  const absl::StatusOr<const CublasApi*> api = Cublas();
  if (!api.ok()) return api.status();
  REEL_CUDA_RETURN_IF_ERROR(
      FromCublasStatus((*api)->set_stream(cublas, stream), "cublasSetStream"));
  // cuBLAS is column-major: a row-major matrix is its transpose in column-major, so
  // C^T = op(B)^T op(A)^T is computed with the operands swapped and m, n exchanged.
  if (batch == 1) {
    return FromCublasStatus((*api)->sgemm(cublas, Op(trans_b), Op(trans_a), n, m, k, &alpha, b,
                                          ldb, a, lda, &beta, c, ldc),
                            absl::StrCat("cublasSgemm m=", m, " n=", n, " k=", k));
  }
  return FromCublasStatus(
      (*api)->sgemm_strided_batched(cublas, Op(trans_b), Op(trans_a), n, m, k, &alpha, b, ldb,
                                    stride_b, a, lda, stride_a, &beta, c, ldc, stride_c, batch),
      absl::StrCat("cublasSgemmStridedBatched batch=", batch, " m=", m, " n=", n, " k=", k));
}

absl::Status Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc, cublasHandle_t cublas, cudaStream_t stream) {
  return GemmBatched(trans_a, trans_b, 1, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0,
                     cublas, stream);
}

}  // namespace reel::kernels::cuda
