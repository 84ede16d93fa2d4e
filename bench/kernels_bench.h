#pragma once
// Shared by the kernel benchmarks: the in-run peak and the GFLOP/s counters.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace reel::bench {

// GFLOP/s of OpenBLAS sgemm 2048^3 on all cores, measured once per process (best of a few runs):
// the "peak" every GEMM-like result is compared with.
double PeakGflops();

// Wall and process CPU time since construction; start it right before the benchmark loop.
class LoopTimer {
 public:
  LoopTimer();
  double WallSeconds() const;
  double CpuSeconds() const;  // All threads of the process, spinning included.

 private:
  double wall0_, cpu0_;
};

// Adds "GFLOP/s" (wall-clock rate), "of_peak" (that rate over PeakGflops) and "GFLOP/cpu-s" (flops
// per CPU-second of the process, i.e. per busy core: less sensitive to other load on the machine).
void ReportFlops(benchmark::State& state, double flops, const LoopTimer& timer);

// Adds "GB/s" for `bytes` moved per iteration (memory-bound ops).
void ReportBytes(benchmark::State& state, double bytes);

std::vector<float> Random(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

}  // namespace reel::bench
