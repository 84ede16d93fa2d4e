// The bf16 tensor-core GEMM (kernels/cuda/gemm_bf16.h, cuBLASLt) against cuBLAS's f32 SGEMM (no
// TF32, the f32 path the CUDA backend had) on the same shapes in one run: a large square matmul
// and the projections of the SANA-Video-2B DiT at 480x832, 81 frames (2 x 32760 tokens with CFG):
// qkv 2240 -> 6720, o-proj 2240 -> 2240, Mix-FFN inverted 2240 -> 13440 and point 6720 -> 2240.
// Also LinearBf16 (the f32 -> bf16 cast of x and the bias epilogue included), as the DiT calls it.
// Timed with CUDA events: the best of 3 samples of `iters` back-to-back calls after a warm-up.
// Prints one JSON document; needs a device (prints a note and exits 0 without one).
//
//   reel_bench_gemm_bf16_cuda [--rows 65520] [--square 8192] [--iters 10]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "bench/cuda_bench_util.h"
#include "kernels/cuda/cast.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemm_bf16.h"
#include "kernels/cuda/runtime.h"
#include "nlohmann/json.hpp"

namespace reel::bench {
namespace {

namespace cuda = kernels::cuda;

// Fills n device floats with a random pattern (uniform [-1, 1]) repeated: random enough that the
// tensor cores see realistic bit patterns, without generating gigabytes on the host.
void FillRandom(float* dst, int64_t n, const cuda::DeviceBuffer& pattern, cudaStream_t stream) {
  const int64_t period = static_cast<int64_t>(pattern.bytes() / sizeof(float));
  for (int64_t at = 0; at < n; at += period) {
    const int64_t count = std::min(period, n - at);
    Die(cuda::FromCudaError(cudaMemcpyAsync(dst + at, pattern.data(), count * sizeof(float),
                                            cudaMemcpyDeviceToDevice, stream),
                            "cudaMemcpyAsync"));
  }
}

struct Shape {
  const char* name;
  int64_t m, n, k;  // y (m, n) = x (m, k) · wᵀ, w (n, k)
};

nlohmann::json Measure(const Shape& s, int iters, const cuda::DeviceBuffer& pattern,
                       cublasHandle_t cublas, cudaStream_t stream) {
  auto alloc = [](int64_t elements, size_t bytes_each) {
    return Must(cuda::DeviceBuffer::Allocate(static_cast<size_t>(elements) * bytes_each));
  };
  const cuda::DeviceBuffer x = alloc(s.m * s.k, sizeof(float));
  const cuda::DeviceBuffer w = alloc(s.n * s.k, sizeof(float));
  const cuda::DeviceBuffer bias = alloc(s.n, sizeof(float));
  const cuda::DeviceBuffer y = alloc(s.m * s.n, sizeof(float));
  const cuda::DeviceBuffer x16 = alloc(s.m * s.k, sizeof(uint16_t));
  const cuda::DeviceBuffer w16 = alloc(s.n * s.k, sizeof(uint16_t));
  FillRandom(x.as<float>(), s.m * s.k, pattern, stream);
  FillRandom(w.as<float>(), s.n * s.k, pattern, stream);
  FillRandom(bias.as<float>(), s.n, pattern, stream);
  Die(cuda::F32ToBf16(x.as<float>(), x16.as<uint16_t>(), s.m * s.k, stream));
  Die(cuda::F32ToBf16(w.as<float>(), w16.as<uint16_t>(), s.n * s.k, stream));

  const cuda::GemmBf16RouteCounts before = cuda::GemmBf16Routes();
  const double bf16_ms = TimeMs(stream, 3, iters, [&] {
    Die(cuda::GemmBf16(true, s.m, s.n, s.k, 1.0f, x16.as<uint16_t>(), s.k, w16.as<uint16_t>(), s.k,
                       0.0f, y.as<float>(), s.n, nullptr, stream));
  });
  const cuda::GemmBf16RouteCounts after = cuda::GemmBf16Routes();
  const double linear_ms = TimeMs(stream, 3, iters, [&] {
    Die(cuda::LinearBf16(x.as<float>(), s.m, s.k, w16.as<uint16_t>(), s.n, bias.as<float>(),
                         y.as<float>(), stream));
  });
  const double f32_ms = TimeMs(stream, 3, std::max(1, iters / 5), [&] {
    Die(cuda::Gemm(false, true, s.m, s.n, s.k, 1.0f, x.as<float>(), s.k, w.as<float>(), s.k, 0.0f,
                   y.as<float>(), s.n, cublas, stream));
  });
  const double flop = 2.0 * s.m * s.n * s.k;
  auto tflops = [&](double ms) { return flop / (ms * 1e-3) / 1e12; };
  return {{"shape", s.name},
          {"m", s.m},
          {"n", s.n},
          {"k", s.k},
          {"route", after.gemm_ex == before.gemm_ex ? "cublasLt" : "cublasGemmEx"},
          {"gemm_bf16_ms", bf16_ms},
          {"gemm_bf16_tflops", tflops(bf16_ms)},
          {"linear_bf16_ms", linear_ms},
          {"linear_bf16_tflops", tflops(linear_ms)},
          {"sgemm_f32_ms", f32_ms},
          {"sgemm_f32_tflops", tflops(f32_ms)},
          {"bf16_speedup_over_f32", f32_ms / bf16_ms}};
}

int Run(int argc, char** argv) {
  int64_t rows = 65520, square = 8192;
  int iters = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rows") rows = std::atoll(argv[i + 1]);
    if (flag == "--square") square = std::atoll(argv[i + 1]);
    if (flag == "--iters") iters = std::max(1, std::atoi(argv[i + 1]));
  }
  const cuda::CudaProbe probe = cuda::ProbeCuda();
  if (probe.device_count == 0) {
    std::printf("no CUDA device: %s; nothing measured\n", probe.why.c_str());
    return 0;
  }
  const cuda::Stream stream = Must(cuda::Stream::Create());
  const cuda::CublasHandle cublas = Must(cuda::CublasHandle::Create());
  // Keep what the stream-ordered pool holds across the timing loop's synchronizations (the default
  // threshold, 0, returns it to the driver at each one), so the workspace and LinearBf16's scratch
  // are not remapped inside the timed region: the steady state of a render, which never syncs.
  int device = 0;
  Die(cuda::FromCudaError(cudaGetDevice(&device), "cudaGetDevice"));
  cudaMemPool_t pool = nullptr;
  Die(cuda::FromCudaError(cudaDeviceGetDefaultMemPool(&pool, device),
                          "cudaDeviceGetDefaultMemPool"));
  uint64_t keep = UINT64_MAX;
  Die(cuda::FromCudaError(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
                          "cudaMemPoolSetAttribute"));

  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> host(1000003);  // a prime period, so rows do not repeat in step
  for (float& v : host) v = dist(gen);
  const cuda::DeviceBuffer pattern = Must(cuda::Upload(absl::MakeConstSpan(host), stream.get()));

  const std::vector<Shape> shapes = {
      {"square", square, square, square},  {"dit_qkv", rows, 6720, 2240},
      {"dit_o_proj", rows, 2240, 2240},    {"dit_ffn_inverted", rows, 13440, 2240},
      {"dit_ffn_point", rows, 2240, 6720},
  };
  nlohmann::json results = nlohmann::json::array();
  for (const Shape& s : shapes) {
    results.push_back(Measure(s, iters, pattern, cublas.get(), stream.get()));
    std::fprintf(stderr, "%s\n", results.back().dump().c_str());  // progress
  }
  const nlohmann::json report = {{"device", probe.name},
                                 {"iters", iters},
                                 {"timing", "best of 3 samples, CUDA events, after a warm-up"},
                                 {"results", results}};
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) { return reel::bench::Run(argc, argv); }
