// Linear attention state updates and readout against double loops over the formulas in the header,
// plus the chunking invariant (accumulating in pieces equals accumulating at once).
#include "kernels/cpu/linear_attention.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

struct Case {
  int64_t n, heads, d;
};
const Case kCases[] = {{1, 1, 1}, {5, 2, 3}, {33, 3, 8}, {1024, 4, 32}};

TEST(LinearAttentionAccumulateTest, AddsOuterProductsAndKeySums) {
  uint32_t seed = 1;
  for (const Case c : kCases) {
    const int64_t w = c.heads * c.d;
    // ReLU features are non-negative, as in SANA.
    const auto k_rot = RandomVector(c.n * w, ++seed), k = RandomVector(c.n * w, ++seed, 0.0f, 1.0f);
    const auto v = RandomVector(c.n * w, ++seed);
    auto kv = RandomVector(c.heads * c.d * c.d, ++seed);
    auto ksum = RandomVector(w, ++seed, 0.0f, 1.0f);
    std::vector<double> kv_want(kv.begin(), kv.end()), ksum_want(ksum.begin(), ksum.end());
    for (int64_t h = 0; h < c.heads; ++h) {
      for (int64_t i = 0; i < c.d; ++i) {
        for (int64_t j = 0; j < c.d; ++j) {
          double acc = 0;
          for (int64_t m = 0; m < c.n; ++m)
            acc += double{v[m * w + h * c.d + i]} * k_rot[m * w + h * c.d + j];
          kv_want[(h * c.d + i) * c.d + j] += acc;
        }
      }
    }
    for (int64_t m = 0; m < c.n; ++m) {
      for (int64_t e = 0; e < w; ++e) ksum_want[e] += k[m * w + e];
    }
    auto kv_chunked = kv, ksum_chunked = ksum;
    LinearAttentionAccumulate(k_rot.data(), k.data(), v.data(), c.n, c.heads, c.d, kv.data(),
                              ksum.data());
    // Sums of n products bounded by 1: f32 error grows at most ~n * 2^-24; 2e-7 n is the bound.
    const double tol = 2e-7 * static_cast<double>(c.n) + 1e-6;
    ExpectAllNear(kv, kv_want, 1e-5, tol, "kv");
    ExpectAllNear(ksum, ksum_want, 1e-5, tol, "ksum");
    // Two chunks (block-causal streaming) give the same state.
    const int64_t first = c.n / 2;
    LinearAttentionAccumulate(k_rot.data(), k.data(), v.data(), first, c.heads, c.d,
                              kv_chunked.data(), ksum_chunked.data());
    LinearAttentionAccumulate(k_rot.data() + first * w, k.data() + first * w, v.data() + first * w,
                              c.n - first, c.heads, c.d, kv_chunked.data(), ksum_chunked.data());
    ExpectAllNear(kv_chunked, kv_want, 1e-5, tol, "kv chunked");
    ExpectAllNear(ksum_chunked, ksum_want, 1e-5, tol, "ksum chunked");
  }
}

TEST(LinearAttentionApplyTest, ReadsOutAndNormalizesWithUnrotatedQuery) {
  uint32_t seed = 50;
  for (const Case c : kCases) {
    const int64_t w = c.heads * c.d;
    const auto q_rot = RandomVector(c.n * w, ++seed), q = RandomVector(c.n * w, ++seed, 0.0f, 1.0f);
    const auto kv = RandomVector(c.heads * c.d * c.d, ++seed);
    const auto ksum = RandomVector(w, ++seed, 0.5f, 2.0f);
    const float eps = 1e-4f;
    std::vector<double> want(c.n * w);
    for (int64_t m = 0; m < c.n; ++m) {
      for (int64_t h = 0; h < c.heads; ++h) {
        double den = eps;
        for (int64_t j = 0; j < c.d; ++j) den += double{q[m * w + h * c.d + j]} * ksum[h * c.d + j];
        for (int64_t i = 0; i < c.d; ++i) {
          double num = 0;
          for (int64_t j = 0; j < c.d; ++j) {
            num += double{kv[(h * c.d + i) * c.d + j]} * q_rot[m * w + h * c.d + j];
          }
          want[m * w + h * c.d + i] = num / den;
        }
      }
    }
    std::vector<float> out(c.n * w);
    LinearAttentionApply(q_rot.data(), q.data(), kv.data(), ksum.data(), c.n, c.heads, c.d, eps,
                         out.data());
    ExpectAllNear(out, want, 1e-5, 1e-6, "apply");
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
