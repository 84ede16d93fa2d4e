// Attention-shaped kernels at DiT sizes (4096 tokens = a 64x64 latent frame).
#include "bench/kernels_bench.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/linear_attention.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/softmax.h"

namespace reel::bench {
namespace {

// Args: n tokens, heads, head dim.
void BM_LinearAttentionAccumulate(benchmark::State& state) {
  const int64_t n = state.range(0), heads = state.range(1), d = state.range(2), w = heads * d;
  const auto k_rot = Random(n * w, 1), k = Random(n * w, 2, 0, 1), v = Random(n * w, 3);
  std::vector<float> kv(heads * d * d), ksum(w);
  PeakGflops();
  const LoopTimer timer;
  for (auto _ : state) {
    kernels::cpu::LinearAttentionAccumulate(k_rot.data(), k.data(), v.data(), n, heads, d,
                                            kv.data(), ksum.data());
    benchmark::DoNotOptimize(kv.data());
  }
  ReportFlops(state, 2.0 * n * heads * d * d + n * w, timer);
}
BENCHMARK(BM_LinearAttentionAccumulate)
    ->Args({4096, 8, 32})
    ->Args({4096, 8, 64})
    ->ArgNames({"n", "heads", "d"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_LinearAttentionApply(benchmark::State& state) {
  const int64_t n = state.range(0), heads = state.range(1), d = state.range(2), w = heads * d;
  const auto q_rot = Random(n * w, 1), q = Random(n * w, 2, 0, 1);
  const auto kv = Random(heads * d * d, 3), ksum = Random(w, 4, 1, 2);
  std::vector<float> out(n * w);
  PeakGflops();
  const LoopTimer timer;
  for (auto _ : state) {
    kernels::cpu::LinearAttentionApply(q_rot.data(), q.data(), kv.data(), ksum.data(), n, heads, d,
                                       1e-6f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  ReportFlops(state, 2.0 * n * heads * d * d + 3.0 * n * w, timer);
}
BENCHMARK(BM_LinearAttentionApply)
    ->Args({4096, 8, 32})
    ->Args({4096, 8, 64})
    ->ArgNames({"n", "heads", "d"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: nq, nk, heads, d (cross-attention to a short text sequence).
void BM_SoftmaxAttention(benchmark::State& state) {
  const int64_t nq = state.range(0), nk = state.range(1), heads = state.range(2),
                d = state.range(3);
  const int64_t w = heads * d;
  const auto q = Random(nq * w, 1), k = Random(nk * w, 2), v = Random(nk * w, 3);
  std::vector<float> mask(nk, 1.0f);
  for (int64_t j = nk - nk / 4; j < nk; ++j) mask[j] = 0.0f;  // Padded prompt tail.
  std::vector<float> out(nq * w);
  PeakGflops();
  const LoopTimer timer;
  for (auto _ : state) {
    kernels::cpu::SoftmaxAttention(q.data(), k.data(), v.data(), mask.data(), nq, nk, heads, d,
                                   0.125f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double kept = static_cast<double>(nk - nk / 4);
  ReportFlops(state, 4.0 * nq * kept * w, timer);
}
BENCHMARK(BM_SoftmaxAttention)
    ->Args({4096, 64, 8, 32})
    ->Args({4096, 300, 16, 72})
    ->ArgNames({"nq", "nk", "heads", "d"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: rows, cols.
void BM_LayerNormModulate(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const auto x = Random(rows * cols, 1), shift = Random(cols, 2), scale = Random(cols, 3);
  std::vector<float> y(rows * cols);
  for (auto _ : state) {
    kernels::cpu::LayerNormModulate(x.data(), y.data(), rows, cols, 1e-6f, shift.data(),
                                    scale.data(), 0);
    benchmark::DoNotOptimize(y.data());
  }
  ReportBytes(state, 2.0 * rows * cols * sizeof(float));
}
BENCHMARK(BM_LayerNormModulate)
    ->Args({4096, 1152})
    ->ArgNames({"rows", "cols"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: images, h, w, c.
void BM_DepthwiseConv2d3x3(benchmark::State& state) {
  const int64_t images = state.range(0), h = state.range(1), w = state.range(2), c = state.range(3);
  const auto x = Random(images * h * w * c, 1), weight = Random(c * 9, 2), bias = Random(c, 3);
  std::vector<float> y(x.size());
  PeakGflops();
  const LoopTimer timer;
  for (auto _ : state) {
    kernels::cpu::DepthwiseConv2d3x3(x.data(), weight.data(), bias.data(), y.data(), images, h, w,
                                     c);
    benchmark::DoNotOptimize(y.data());
  }
  ReportFlops(state, 18.0 * images * h * w * c, timer);
  ReportBytes(state, 2.0 * images * h * w * c * sizeof(float));
}
BENCHMARK(BM_DepthwiseConv2d3x3)
    ->Args({1, 64, 64, 512})
    ->Args({4, 32, 32, 1152})
    ->ArgNames({"images", "h", "w", "c"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace reel::bench
