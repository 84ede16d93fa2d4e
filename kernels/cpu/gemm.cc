#include "kernels/cpu/gemm.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace reel::kernels::cpu {
namespace {

// BLAS rejects k == 0 (lda may then be 0); the result is just C scaled by beta.
void ScaleC(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// Leading dimensions must cover a row even when a matrix is empty, as BLAS insists.
int64_t Ld(int64_t ld, int64_t cols) { return std::max<int64_t>(ld, std::max<int64_t>(cols, 1)); }

}  // namespace

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  GemmWith(GemmBackend::kOpenBlas, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void GemmWith(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
              float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    ScaleC(m, n, beta, c, ldc);
    return;
  }
  lda = Ld(lda, trans_a ? m : k);
  ldb = Ld(ldb, trans_b ? k : n);
  ldc = Ld(ldc, n);
  switch (backend) {
    case GemmBackend::kOpenBlas:
      cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                  trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
                  static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                  static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
                  static_cast<blasint>(ldc));
      return;
    case GemmBackend::kOneDnn: {
      // dnnl_sgemm is row-major (unlike Fortran BLAS).
      const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k,
                                              alpha, a, lda, b, ldb, beta, c, ldc);
      if (status != dnnl_success) {
        // Only invalid arguments make it fail: a programmer error, like a BLAS xerbla abort.
        std::fprintf(stderr, "dnnl_sgemm failed (status %d) for m=%ld n=%ld k=%ld\n",
                     static_cast<int>(status), static_cast<long>(m), static_cast<long>(n),
                     static_cast<long>(k));
        std::abort();
      }
      return;
    }
  }
}

void GemmBatched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                 int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                 int64_t stride_c) {
  // OpenBLAS 0.3.21 has no sgemm_batch; each call is threaded internally, so the loop stays serial.
  for (int64_t i = 0; i < batch; ++i) {
    Gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
         c + i * stride_c, ldc);
  }
}

void GemmReference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      float& out = c[i * ldc + j];
      // beta == 0 overwrites (C may hold garbage), matching BLAS.
      out =
          static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * out));
    }
  }
}

}  // namespace reel::kernels::cpu
