#include "bench/kernels_bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "kernels/cpu/gemm.h"

namespace reel::bench {

double PeakGflops() {
  static const double peak = [] {
    constexpr int64_t kN = 2048;
    const std::vector<float> a = Random(kN * kN, 1), b = Random(kN * kN, 2);
    std::vector<float> c(kN * kN);
    double best = 0.0;
    for (int rep = 0; rep < 4; ++rep) {  // The first run also warms up OpenBLAS's threads.
      const auto t0 = std::chrono::steady_clock::now();
      kernels::cpu::GemmWith(kernels::cpu::GemmBackend::kOpenBlas, false, false, kN, kN, kN, 1.0f,
                             a.data(), kN, b.data(), kN, 0.0f, c.data(), kN);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * kN * kN * kN / s / 1e9);
    }
    return best;
  }();
  return peak;
}

void ReportFlops(benchmark::State& state, double flops, double seconds) {
  const double total = flops * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  state.counters["of_peak"] = seconds > 0 ? total / seconds / 1e9 / PeakGflops() : 0.0;
}

void ReportBytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(
      bytes * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

std::vector<float> Random(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

}  // namespace reel::bench
