#pragma once
// Element-wise arithmetic with NumPy-style broadcasting expressed through strides
// (a broadcast dimension has stride 0). rank <= kMaxRank.
#include <cstdint>

namespace reel::kernels::cpu {

inline constexpr int kMaxRank = 8;

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

// out[i] = a[i] op b[i] over `shape`, out contiguous; a/b addressed through their strides.
void BinaryBroadcast(BinaryOp op, int rank, const int64_t* shape, const float* a,
                     const int64_t* a_strides, const float* b, const int64_t* b_strides,
                     float* out);

// out = a * scale + b * (per-call scalar) helpers used by samplers: y = alpha*x + beta*y.
void Axpby(int64_t n, float alpha, const float* x, float beta, float* y);

// Σ|a[i] − b[i]| and Σ|b[i]| over n elements, accumulated in double: the two halves of a relative
// L1 distance that the feature caches' gates compare and that sequence-parallel ranks sum up.
void AbsDiffSums(int64_t n, const float* a, const float* b, double* sum_abs_diff,
                 double* sum_abs_b);

// Copies an arbitrary strided view of element size elem_bytes into another strided layout.
void StridedCopy(int rank, const int64_t* shape, const void* src, const int64_t* src_strides,
                 void* dst, const int64_t* dst_strides, int elem_bytes);

}  // namespace reel::kernels::cpu
