// reel_bench_encoder: encoder throughput in frames/s for the formats reel streams, at a small and a
// large frame size, encoding into memory (no disk). Figures go into services/encoder/README.md.
//   reel_bench_encoder [--seconds S] [--threads N]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "services/encoder/media_encoder.h"

namespace reel {
namespace {

// A block of moving-gradient frames with a bright square (cheap to make, not trivially
// compressible).
FrameBlock MakeBlock(int size, int64_t first, int count) {
  FrameBlock block{first, count, size, size,
                   std::vector<uint8_t>(static_cast<size_t>(count) * size * size * 3)};
  size_t i = 0;
  for (int t = 0; t < count; ++t) {
    const int64_t f = first + t;
    const int sq = size / 4, sx = static_cast<int>((f * 3) % (size - sq)), sy = size / 3;
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        const bool in = x >= sx && x < sx + sq && y >= sy && y < sy + sq;
        block.rgb[i++] = in ? 240 : static_cast<uint8_t>((x + 2 * f) * 255 / (size + 2 * f));
        block.rgb[i++] = in ? 40 : static_cast<uint8_t>(128 + 100 * std::sin(0.05 * y + 0.2 * f));
        block.rgb[i++] = in ? 40 : static_cast<uint8_t>((x + y) * 255 / (2 * size));
      }
    }
  }
  return block;
}

struct Case {
  std::string format;
  std::string preset;
  int size;
};

int Run(double seconds, int threads) {
  const Case cases[] = {
      {"mp4", "", 64},  {"mp4", "", 512},  {"mp4", "veryfast", 512},
      {"webm", "", 64}, {"webm", "", 512}, {"webm", "realtime", 512},
      {"gif", "", 64},  {"gif", "", 512},  {"webp", "", 512},
  };
  std::printf("%-6s %-9s %9s %7s %8s %10s %12s\n", "format", "preset", "size", "frames", "seconds",
              "frames/s", "bytes/frame");
  constexpr int kBlock = 8;
  for (const Case& c : cases) {
    VideoSpec spec;
    spec.width = spec.height = c.size;
    spec.fps = 16;
    spec.format = c.format;
    spec.preset = c.preset;
    int64_t bytes = 0;
    EncoderOptions options;
    options.threads = threads;
    auto encoder = NewMediaEncoderToStream(
        spec,
        [&bytes](const uint8_t*, size_t n) {
          bytes += static_cast<int64_t>(n);
          return absl::OkStatus();
        },
        options);
    if (!encoder.ok()) {
      std::printf("%-6s %s\n", c.format.c_str(), encoder.status().ToString().c_str());
      continue;
    }
    // Frames are made ahead of the clock; only encoding is timed. Blocks repeat every 32 frames.
    std::vector<FrameBlock> blocks;
    for (int64_t f = 0; f < 32; f += kBlock) blocks.push_back(MakeBlock(c.size, f, kBlock));
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    int64_t frames = 0;
    // At least 4 blocks; stop once `seconds` have passed.
    while (frames < int64_t{4} * kBlock || elapsed < seconds) {
      FrameBlock& b = blocks[(frames / kBlock) % blocks.size()];
      b.first_frame = frames;
      if (absl::Status s = (*encoder)->Write(b); !s.ok()) {
        std::printf("%s\n", s.ToString().c_str());
        return 1;
      }
      frames += kBlock;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const auto summary = (*encoder)->Finish();
    if (!summary.ok()) {
      std::printf("%s\n", summary.status().ToString().c_str());
      return 1;
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-6s %-9s %4dx%-4d %7lld %8.2f %10.1f %12.0f\n", c.format.c_str(),
                c.preset.empty() ? "default" : c.preset.c_str(), c.size, c.size,
                static_cast<long long>(frames), elapsed, frames / elapsed,
                static_cast<double>(summary->bytes) / frames);
  }
  return 0;
}

}  // namespace
}  // namespace reel

int main(int argc, char** argv) {
  double seconds = 3;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: reel_bench_encoder [--seconds S] [--threads N]\n");
      return 2;
    }
  }
  return reel::Run(seconds, threads);
}
