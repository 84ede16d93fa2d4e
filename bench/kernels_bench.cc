#include "bench/kernels_bench.h"

#include <time.h>

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

namespace {
double Now(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
}  // namespace

LoopTimer::LoopTimer() : wall0_(Now(CLOCK_MONOTONIC)), cpu0_(Now(CLOCK_PROCESS_CPUTIME_ID)) {}
double LoopTimer::WallSeconds() const { return Now(CLOCK_MONOTONIC) - wall0_; }
double LoopTimer::CpuSeconds() const { return Now(CLOCK_PROCESS_CPUTIME_ID) - cpu0_; }

void ReportFlops(benchmark::State& state, double flops, const LoopTimer& timer) {
  const double wall = timer.WallSeconds(), cpu = timer.CpuSeconds();
  const double total = flops * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  state.counters["of_peak"] = wall > 0 ? total / wall / 1e9 / PeakGflops() : 0.0;
  state.counters["GFLOP/cpu-s"] = cpu > 0 ? total / cpu / 1e9 : 0.0;
}

void ReportBytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

std::vector<float> Random(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

}  // namespace reel::bench
