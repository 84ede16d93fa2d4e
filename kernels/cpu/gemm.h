#pragma once
// Row-major single-precision GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C.
// op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides in elements.
#include <cstdint>

namespace reel::kernels::cpu {

enum class GemmBackend { kOpenBlas, kOneDnn };

// Uses the backend chosen by measurement (README "Performance"): OpenBLAS.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

void GemmWith(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
              float* c, int64_t ldc);

// batch independent GEMMs; matrix i starts at a + i*stride_a (likewise b, c).
void GemmBatched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                 int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c);

// Plain triple loop in double accumulation: the oracle for tests, never used in the hot path.
void GemmReference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc);

}  // namespace reel::kernels::cpu
