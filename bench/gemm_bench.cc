// GEMM: OpenBLAS vs oneDNN on square sizes and DiT projection shapes (tokens x width, weights (out,
// in)).
#include <string>

#include "bench/kernels_bench.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/norm.h"

namespace reel::bench {
namespace {

using kernels::cpu::GemmBackend;

// Args: backend (0 OpenBLAS, 1 oneDNN), m, n, k, trans_b.
void BM_Gemm(benchmark::State& state) {
  const auto backend = state.range(0) == 0 ? GemmBackend::kOpenBlas : GemmBackend::kOneDnn;
  const int64_t m = state.range(1), n = state.range(2), k = state.range(3);
  const bool trans_b = state.range(4) != 0;
  const auto a = Random(m * k, 1), b = Random(k * n, 2);
  std::vector<float> c(m * n);
  PeakGflops();  // Measured before timing starts, outside this benchmark's clock.
  const LoopTimer timer;
  for (auto _ : state) {
    kernels::cpu::GemmWith(backend, false, trans_b, m, n, k, 1.0f, a.data(), k, b.data(),
                           trans_b ? k : n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(std::string(backend == GemmBackend::kOpenBlas ? "openblas" : "onednn") +
                 (trans_b ? " B^T" : ""));
  ReportFlops(state, 2.0 * m * n * k, timer);
}

void GemmArgs(benchmark::internal::Benchmark* b) {
  for (int backend : {0, 1}) {
    for (int64_t s : {256, 512, 1024, 2048}) b->Args({backend, s, s, s, 0});
    // DiT linear layers: 4096 tokens, y = x W^T with W (out, in).
    for (int64_t w : {256, 512, 1024}) b->Args({backend, 4096, w, w, 1});
    b->Args({backend, 4096, 4 * 1024, 1024, 1});  // Mix-FFN up-projection.
  }
}
BENCHMARK(BM_Gemm)
    ->Apply(GemmArgs)
    ->ArgNames({"onednn", "m", "n", "k", "bt"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A DiT feed-forward step as the model runs it: GEMMs interleaved with OpenMP kernels. OpenBLAS has
// its own pthread pool; oneDNN shares OpenMP's with the element-wise kernels, so this shows the
// cost of two thread pools handing the cores back and forth, which a GEMM-only benchmark cannot.
// Args: backend, tokens, width.
void BM_FeedForwardStep(benchmark::State& state) {
  const auto backend = state.range(0) == 0 ? GemmBackend::kOpenBlas : GemmBackend::kOneDnn;
  const int64_t n = state.range(1), w = state.range(2), hidden = 2 * w;
  const auto x = Random(n * w, 1), w_up = Random(2 * hidden * w, 2), w_down = Random(w * hidden, 3);
  const auto shift = Random(w, 4), scale = Random(w, 5);
  std::vector<float> normed(n * w), up(n * 2 * hidden), gated(n * hidden), out(n * w);
  PeakGflops();
  const LoopTimer timer;
  for (auto _ : state) {
    kernels::cpu::LayerNormModulate(x.data(), normed.data(), n, w, 1e-6f, shift.data(),
                                    scale.data(), 0);
    kernels::cpu::GemmWith(backend, false, true, n, 2 * hidden, w, 1.0f, normed.data(), w,
                           w_up.data(), w, 0.0f, up.data(), 2 * hidden);
    kernels::cpu::SiluGate(up.data(), gated.data(), n, hidden);
    kernels::cpu::GemmWith(backend, false, true, n, w, hidden, 1.0f, gated.data(), hidden,
                           w_down.data(), hidden, 0.0f, out.data(), w);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(backend == GemmBackend::kOpenBlas ? "openblas" : "onednn");
  ReportFlops(state, 2.0 * n * w * 2 * hidden + 2.0 * n * hidden * w, timer);
}
BENCHMARK(BM_FeedForwardStep)
    ->Args({0, 4096, 512})
    ->Args({1, 4096, 512})
    ->ArgNames({"onednn", "tokens", "width"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace reel::bench
