#pragma once
// Shared by the kernel benchmarks: the in-run peak and the GFLOP/s counters.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace reel::bench {

// GFLOP/s of OpenBLAS sgemm 2048^3 on all cores, measured once per process (best of a few runs):
// the "peak" every GEMM-like result is compared with.
double PeakGflops();

// Adds "GFLOP/s" (rate) and "of_peak" (fraction of PeakGflops) for `flops` per iteration, given the
// wall time measured around the benchmark loop.
void ReportFlops(benchmark::State& state, double flops, double seconds);

// Adds "GB/s" for `bytes` moved per iteration (memory-bound ops).
void ReportBytes(benchmark::State& state, double bytes);

std::vector<float> Random(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

}  // namespace reel::bench
