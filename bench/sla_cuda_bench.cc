// The GPU side of reel_bench_sla: tiled softmax (flash) vs SLA's sparse branch (block map +
// block-sparse attention) with the CUDA kernels, timed with CUDA events in one run. Prints a
// Markdown table; needs a device (exits 0 with a note without one).
//
//   reel_bench_sla_cuda [--tokens 4096,16384,32768] [--dims 64,128] [--hidden 1024]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "bench/cuda_bench_util.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/sparse_attention.h"

namespace reel::bench {
namespace {

namespace cuda = kernels::cuda;

std::vector<int64_t> ParseList(const char* s) {
  std::vector<int64_t> out;
  for (const char* p = s; *p != '\0';) {
    char* end = nullptr;
    out.push_back(std::strtoll(p, &end, 10));
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

int Run(int argc, char** argv) {
  std::vector<int64_t> tokens = {4096, 16384, 32768}, dims = {64, 128};
  int64_t hidden = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--tokens") tokens = ParseList(argv[i + 1]);
    if (a == "--dims") dims = ParseList(argv[i + 1]);
    if (a == "--hidden") hidden = std::atoll(argv[i + 1]);
  }
  const cuda::CudaProbe probe = cuda::ProbeCuda();
  if (probe.device_count == 0) {
    std::printf("no CUDA device: %s\n", probe.why.c_str());
    return 0;
  }
  const cuda::Stream stream = Must(cuda::Stream::Create());
  std::printf(
      "| tokens | d | heads | flash ms | top-k | block map ms | block-sparse ms | speedup |\n"
      "|---|---|---|---|---|---|---|---|\n");
  for (const int64_t n : tokens) {
    for (const int64_t d : dims) {
      const int64_t heads = hidden / d;
      std::mt19937 gen(1);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<float> host(n * heads * d);
      for (float& x : host) x = nd(gen);
      const cuda::DeviceBuffer q = Must(cuda::Upload(absl::MakeConstSpan(host), stream.get()));
      for (float& x : host) x = nd(gen);
      const cuda::DeviceBuffer k = Must(cuda::Upload(absl::MakeConstSpan(host), stream.get()));
      for (float& x : host) x = nd(gen);
      const cuda::DeviceBuffer v = Must(cuda::Upload(absl::MakeConstSpan(host), stream.get()));
      const cuda::DeviceBuffer out = Must(cuda::DeviceBuffer::Allocate(host.size() * 4));
      const float scale = 1.0f / std::sqrt(static_cast<float>(d));
      const cuda::AttentionBlocks none;
      const double flash = TimeMs(stream.get(), 5, 1, [&] {
        Die(cuda::FlashAttention(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, n, n, heads,
                                 d, scale, none, 64, 64, out.as<float>(), stream.get()));
      });
      for (const float topk : {0.05f, 0.1f, 0.2f}) {
        const cuda::SparseAttentionOptions o{topk, 64, 64};
        const int64_t tiles =
            heads * kernels::cpu::TileCount(n, 64) * kernels::cpu::TileCount(n, 64);
        const cuda::DeviceBuffer map = Must(cuda::DeviceBuffer::Allocate(tiles));
        const double map_ms = TimeMs(stream.get(), 5, 1, [&] {
          Die(cuda::SparseTileMap(q.as<float>(), k.as<float>(), n, n, heads, d, none, o, true,
                                  map.as<uint8_t>(), stream.get()));
        });
        const double sparse_ms = TimeMs(stream.get(), 5, 1, [&] {
          Die(cuda::BlockSparseAttention(q.as<float>(), k.as<float>(), v.as<float>(),
                                         map.as<uint8_t>(), n, n, heads, d, scale, none, 64, 64,
                                         out.as<float>(), stream.get()));
        });
        std::printf("| %lld | %lld | %lld | %.2f | %.2f | %.3f | %.2f | %.2f× |\n",
                    static_cast<long long>(n), static_cast<long long>(d),
                    static_cast<long long>(heads), flash, topk, map_ms, sparse_ms,
                    flash / (map_ms + sparse_ms));
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) { return reel::bench::Run(argc, argv); }
