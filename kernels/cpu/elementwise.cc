#include "kernels/cpu/elementwise.h"

#include <array>
#include <cstring>
#include <vector>

#include "kernels/cpu/internal.h"

namespace reel::kernels::cpu {
namespace {

using internal::kParallelMinWork;

// Iteration space after dropping size-1 dimensions and merging dimensions that are contiguous for
// every operand: most calls (same-shape tensors, a row vector broadcast over rows) become 1-2 dims.
template <int kOperands>
struct Collapsed {
  int rank = 0;
  std::array<int64_t, kMaxRank> shape{};
  std::array<std::array<int64_t, kMaxRank>, kOperands> strides{};
  bool empty = false;
};

template <int kOperands>
Collapsed<kOperands> Collapse(int rank, const int64_t* shape,
                              const std::array<const int64_t*, kOperands>& strides) {
  Collapsed<kOperands> c;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 0) c.empty = true;
    if (shape[d] == 1) continue;
    bool merge = c.rank > 0;
    for (int o = 0; o < kOperands && merge; ++o) {
      merge = strides[o][d] * shape[d] == c.strides[o][c.rank - 1];
    }
    if (merge) {
      c.shape[c.rank - 1] *= shape[d];
      for (int o = 0; o < kOperands; ++o) c.strides[o][c.rank - 1] = strides[o][d];
    } else {
      c.shape[c.rank] = shape[d];
      for (int o = 0; o < kOperands; ++o) c.strides[o][c.rank] = strides[o][d];
      ++c.rank;
    }
  }
  if (c.rank == 0) {  // A scalar: one element.
    c.rank = 1;
    c.shape[0] = 1;
    for (int o = 0; o < kOperands; ++o) c.strides[o][0] = 1;
  }
  return c;
}

// Element offsets of outer index `outer` (all dimensions but the innermost).
template <int kOperands>
std::array<int64_t, kOperands> Offsets(const Collapsed<kOperands>& c, int64_t outer) {
  std::array<int64_t, kOperands> off{};
  for (int d = c.rank - 2; d >= 0; --d) {
    const int64_t i = outer % c.shape[d];
    outer /= c.shape[d];
    for (int o = 0; o < kOperands; ++o) off[o] += i * c.strides[o][d];
  }
  return off;
}

template <BinaryOp kOp>
inline float Apply(float a, float b) {
  if constexpr (kOp == BinaryOp::kAdd) return a + b;
  if constexpr (kOp == BinaryOp::kSub) return a - b;
  if constexpr (kOp == BinaryOp::kMul) return a * b;
  return a / b;
}

template <BinaryOp kOp>
inline void BinaryRowT(int64_t n, const float* a, int64_t as, const float* b, int64_t bs,
                       float* out) {
  if (as == 1 && bs == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(a[i], b[i]);
  } else if (as == 1 && bs == 0) {
    const float bv = *b;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(a[i], bv);
  } else if (as == 0 && bs == 1) {
    const float av = *a;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(a[i * as], b[i * bs]);
  }
}

REEL_CPU_MULTIVERSION void BinaryRow(BinaryOp op, int64_t n, const float* a, int64_t as,
                                     const float* b, int64_t bs, float* out) {
  switch (op) {
    case BinaryOp::kAdd:
      return BinaryRowT<BinaryOp::kAdd>(n, a, as, b, bs, out);
    case BinaryOp::kSub:
      return BinaryRowT<BinaryOp::kSub>(n, a, as, b, bs, out);
    case BinaryOp::kMul:
      return BinaryRowT<BinaryOp::kMul>(n, a, as, b, bs, out);
    case BinaryOp::kDiv:
      return BinaryRowT<BinaryOp::kDiv>(n, a, as, b, bs, out);
  }
}

REEL_CPU_MULTIVERSION void AxpbyRange(int64_t n, float alpha, const float* x, float beta,
                                      float* y) {
  if (beta == 0.0f) {  // BLAS convention: y is not read, so garbage/NaN in y does not leak.
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta * y[i];
  }
}

REEL_CPU_MULTIVERSION void AbsDiffSumsRange(int64_t n, const float* a, const float* b, double* diff,
                                            double* ref) {
  // f32 partial sums over a short chunk keep the loop vectorized; chunks are added in double.
  float d = 0.0f, r = 0.0f;
#pragma omp simd reduction(+ : d, r)
  for (int64_t i = 0; i < n; ++i) {
    d += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
    r += b[i] < 0.0f ? -b[i] : b[i];
  }
  *diff = d;
  *ref = r;
}

template <typename T>
void CopyRow(int64_t n, const char* src, int64_t ss, char* dst, int64_t ds) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i * ds] = s[i * ss];
}

void StridedRow(int64_t n, const char* src, int64_t ss, char* dst, int64_t ds, int elem_bytes) {
  if (ss == 1 && ds == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * elem_bytes);
    return;
  }
  switch (elem_bytes) {
    case 1:
      return CopyRow<uint8_t>(n, src, ss, dst, ds);
    case 2:
      return CopyRow<uint16_t>(n, src, ss, dst, ds);
    case 4:
      return CopyRow<uint32_t>(n, src, ss, dst, ds);
    case 8:
      return CopyRow<uint64_t>(n, src, ss, dst, ds);
    default:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + i * ds * elem_bytes, src + i * ss * elem_bytes, elem_bytes);
      }
  }
}

}  // namespace

void BinaryBroadcast(BinaryOp op, int rank, const int64_t* shape, const float* a,
                     const int64_t* a_strides, const float* b, const int64_t* b_strides,
                     float* out) {
  std::array<int64_t, kMaxRank> out_strides{};
  int64_t total = 1;
  for (int d = rank - 1; d >= 0; --d) {
    out_strides[d] = total;
    total *= shape[d];
  }
  const Collapsed<3> c = Collapse<3>(rank, shape, {a_strides, b_strides, out_strides.data()});
  if (c.empty) return;
  const int last = c.rank - 1;
  const int64_t inner = c.shape[last];
  const int64_t outer = total / inner;
  const int64_t as = c.strides[0][last], bs = c.strides[1][last];
  if (outer == 1) {
    // One long run: split it across threads in chunks.
    constexpr int64_t kChunk = 1 << 14;
    const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for if (inner >= kParallelMinWork)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const int64_t begin = ch * kChunk;
      const int64_t n = inner - begin < kChunk ? inner - begin : kChunk;
      BinaryRow(op, n, a + begin * as, as, b + begin * bs, bs, out + begin);
    }
    return;
  }
#pragma omp parallel for if (total >= kParallelMinWork)
  for (int64_t o = 0; o < outer; ++o) {
    const auto off = Offsets<3>(c, o);
    BinaryRow(op, inner, a + off[0], as, b + off[1], bs, out + off[2]);
  }
}

void Axpby(int64_t n, float alpha, const float* x, float beta, float* y) {
  constexpr int64_t kChunk = 1 << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n >= kParallelMinWork)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t begin = ch * kChunk;
    const int64_t len = n - begin < kChunk ? n - begin : kChunk;
    AxpbyRange(len, alpha, x + begin, beta, y + begin);
  }
}

void AbsDiffSums(int64_t n, const float* a, const float* b, double* sum_abs_diff,
                 double* sum_abs_b) {
  // Per-chunk partials added in a fixed order, so the sums (and a cache gate that compares them
  // with a threshold) do not depend on the thread count.
  constexpr int64_t kChunk = 1 << 10;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> diff(chunks), ref(chunks);
#pragma omp parallel for if (n >= kParallelMinWork)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t begin = ch * kChunk;
    const int64_t len = n - begin < kChunk ? n - begin : kChunk;
    AbsDiffSumsRange(len, a + begin, b + begin, &diff[ch], &ref[ch]);
  }
  *sum_abs_diff = 0.0;
  *sum_abs_b = 0.0;
  for (int64_t ch = 0; ch < chunks; ++ch) {
    *sum_abs_diff += diff[ch];
    *sum_abs_b += ref[ch];
  }
}

void StridedCopy(int rank, const int64_t* shape, const void* src, const int64_t* src_strides,
                 void* dst, const int64_t* dst_strides, int elem_bytes) {
  const Collapsed<2> c = Collapse<2>(rank, shape, {src_strides, dst_strides});
  if (c.empty) return;
  int64_t total = 1;
  for (int d = 0; d < c.rank; ++d) total *= c.shape[d];
  const int last = c.rank - 1;
  const int64_t inner = c.shape[last];
  const int64_t outer = total / inner;
  const int64_t ss = c.strides[0][last], ds = c.strides[1][last];
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
#pragma omp parallel for if (total * elem_bytes >= 4 * kParallelMinWork && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    const auto off = Offsets<2>(c, o);
    StridedRow(inner, s + off[0] * elem_bytes, ss, d + off[1] * elem_bytes, ds, elem_bytes);
  }
}

}  // namespace reel::kernels::cpu
