// Causal softmax attention (Gemma-2's) against transformers' eager formula written out in double:
// logits over all n keys, soft-capped, plus an additive -1e300 where masked, softmax over all n
// keys (so a row with every key masked becomes uniform, as it does in transformers).
#include "kernels/cpu/causal_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace reel::kernels::cpu {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;

struct Case {
  int64_t n, heads, kv_heads, d, window;
  float softcap;
  int64_t valid;  // keys [valid, n) are padding; n = no padding
};

std::vector<double> EagerReference(const std::vector<float>& q, const std::vector<float>& k,
                                   const std::vector<float>& v, const std::vector<float>& mask,
                                   const Case& c, double scale) {
  const int64_t qw = c.heads * c.d, kw = c.kv_heads * c.d, group = c.heads / c.kv_heads;
  std::vector<double> out(c.n * qw, 0.0), logits(c.n);
  for (int64_t h = 0; h < c.heads; ++h) {
    const int64_t g = h / group;
    for (int64_t i = 0; i < c.n; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < c.n; ++j) {
        double x = 0;
        for (int64_t e = 0; e < c.d; ++e)
          x += double{q[i * qw + h * c.d + e]} * k[j * kw + g * c.d + e];
        x *= scale;
        if (c.softcap > 0) x = c.softcap * std::tanh(x / c.softcap);
        const bool allowed = j <= i && (c.window == 0 || j > i - c.window) && mask[j] != 0.0f;
        logits[j] = x + (allowed ? 0.0 : -1e300);
        mx = std::max(mx, logits[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < c.n; ++j) sum += std::exp(logits[j] - mx);
      for (int64_t j = 0; j < c.n; ++j) {
        const double p = std::exp(logits[j] - mx) / sum;
        for (int64_t e = 0; e < c.d; ++e) out[i * qw + h * c.d + e] += p * v[j * kw + g * c.d + e];
      }
    }
  }
  return out;
}

TEST(CausalSoftmaxAttentionTest, MatchesEagerFormulaWithWindowPaddingGqaAndSoftcap) {
  uint32_t seed = 7;
  for (const Case c :
       {Case{1, 1, 1, 4, 0, 0.0f, 1}, Case{7, 4, 2, 8, 0, 0.0f, 7}, Case{9, 4, 2, 24, 3, 2.0f, 9},
        Case{16, 4, 1, 16, 5, 3.0f, 6}, Case{150, 2, 2, 16, 0, 50.0f, 150},
        Case{150, 4, 2, 16, 70, 1.5f, 100}, Case{150, 4, 2, 16, 7, 0.0f, 90}}) {
    SCOPED_TRACE(::testing::Message()
                 << "n=" << c.n << " heads=" << c.heads << "/" << c.kv_heads
                 << " window=" << c.window << " cap=" << c.softcap << " valid=" << c.valid);
    const auto q = RandomVector(c.n * c.heads * c.d, ++seed, -2.0f, 2.0f);
    const auto k = RandomVector(c.n * c.kv_heads * c.d, ++seed, -2.0f, 2.0f);
    const auto v = RandomVector(c.n * c.kv_heads * c.d, ++seed);
    std::vector<float> mask(c.n, 1.0f);
    for (int64_t j = c.valid; j < c.n; ++j) mask[j] = 0.0f;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.d) - 1.0f);
    const auto want = EagerReference(q, k, v, mask, c, scale);
    std::vector<float> out(c.n * c.heads * c.d);
    CausalSoftmaxAttention(q.data(), k.data(), v.data(), c.valid < c.n ? mask.data() : nullptr, c.n,
                           c.heads, c.kv_heads, c.d, c.window, scale, c.softcap, out.data());
    ExpectAllNear(out, want, 1e-5, 1e-5, "causal attention");
  }
}

// The first query sees only itself: its output is its own value row, whatever the logits.
TEST(CausalSoftmaxAttentionTest, FirstTokenCopiesItsValue) {
  const auto q = RandomVector(3 * 8, 1), k = RandomVector(3 * 8, 2), v = RandomVector(3 * 8, 3);
  std::vector<float> out(3 * 8);
  CausalSoftmaxAttention(q.data(), k.data(), v.data(), nullptr, 3, 1, 1, 8, 0, 1.0f, 0.0f,
                         out.data());
  for (int e = 0; e < 8; ++e) EXPECT_FLOAT_EQ(out[e], v[e]);
}

}  // namespace
}  // namespace reel::kernels::cpu
