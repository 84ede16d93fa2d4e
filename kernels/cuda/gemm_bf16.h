#pragma once
// The bf16 tensor-core GEMM behind the GPU default "bf16 compute with f32 accumulation": weights
// stored as bf16 on the device, activations f32, every projection one cuBLASLt matmul with the bias
// fused as its epilogue. Shapes cuBLASLt's tensor-core kernels cannot take (see GemmBf16UsesLt) run
// on cublasGemmEx with the same numbers (bf16 inputs, f32 accumulation and output).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace reel::kernels::cuda {

// y (rows, out) f32 = x (rows, in) f32 · wᵀ + bias, w (out, in) bf16 raw bits, bias (out) f32 or
// null, row-major, device pointers. x is rounded to bf16 (round to nearest even, as F32ToBf16) into
// stream-ordered scratch, then one cuBLASLt matmul with f32 accumulation and the bias fused as the
// epilogue. y must not overlap x (InvalidArgument if it does). in == 0 gives y = bias (or zeros).
absl::Status LinearBf16(const float* x, int64_t rows, int64_t in, const uint16_t* w, int64_t out,
                        const float* bias, float* y, cudaStream_t stream);

// The raw GEMM underneath (row-major, C f32 = alpha * A · op(B) + beta * C, A (m, k) bf16, B (n, k)
// bf16 when trans_b else (k, n), bias (n) or null added when given), for benchmarks. The bias is
// not scaled by alpha. Leading dimensions are row strides in elements and must cover a row
// (lda >= k, ldb >= k or n, ldc >= n; InvalidArgument otherwise). beta == 0 writes C without
// reading it (NaNs there are ignored); k == 0 or alpha == 0 gives beta * C + bias without reading
// A or B.
absl::Status GemmBf16(bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
                      int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                      int64_t ldc, const float* bias, cudaStream_t stream);

// Whether GemmBf16 with these operands goes to cuBLASLt: every pointer (a, b, c, bias when given)
// 16-byte aligned and every row too (lda, ldb multiples of 8 bf16, ldc a multiple of 4 floats), as
// its bf16 tensor-core kernels load 16 bytes at a time. Otherwise, or when cuBLASLt offers no
// algorithm for the shape, GemmBf16 runs cublasGemmEx. Host arithmetic only.
bool GemmBf16UsesLt(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, const float* c,
                    int64_t ldc, const float* bias);

// How many GemmBf16 calls (LinearBf16's included) of this process ran a matmul on cuBLASLt and how
// many on the cublasGemmEx fallback (degenerate calls count as neither): lets tests and benchmarks
// see the route a shape took.
struct GemmBf16RouteCounts {
  int64_t lt = 0;
  int64_t gemm_ex = 0;
};
GemmBf16RouteCounts GemmBf16Routes();

}  // namespace reel::kernels::cuda
