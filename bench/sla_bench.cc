// Attention alone at video lengths: tiled (flash) softmax attention vs sparse-linear attention
// (SLA) at several top-k ratios, measured side by side in one run (issue 16). Prints Markdown
// tables: share of the softmax FLOPs SLA skips and its speedup over the tiled softmax; the old
// materialized ops::SoftmaxAttention at the shortest length for reference; with --sweep, tile
// sizes.
//
//   reel_bench_sla                         # 4k, 16k, 32k tokens x head dim 64, 128 (~5-10 min)
//   reel_bench_sla --tokens 4096 --dims 64 --reps 3
//   reel_bench_sla --sweep --tokens 8192   # tile_q x tile_k sweep of SLA and flash
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/sparse_attention.h"
#include "pipeline/tensor/ops.h"

namespace reel::bench {
namespace {

struct Flags {
  std::vector<int64_t> tokens = {4096, 16384, 32768};
  std::vector<int64_t> dims = {64, 128};
  std::vector<float> topks = {0.05f, 0.1f, 0.2f};
  int64_t hidden = 1024;  // heads = hidden / d
  int reps = 1;           // best of reps (each variant interleaved with the others)
  bool sweep = false;
  bool parts = false;  // time the block map, the sparse branch and the whole SLA op separately
};

template <typename T>
std::vector<T> ParseList(const char* s) {
  std::vector<T> out;
  for (const char* p = s; *p != '\0';) {
    char* end = nullptr;
    out.push_back(static_cast<T>(std::strtod(p, &end)));
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p != '\0') break;
  }
  return out;
}

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--tokens") {
      f.tokens = ParseList<int64_t>(next), ++i;
    } else if (a == "--dims") {
      f.dims = ParseList<int64_t>(next), ++i;
    } else if (a == "--topk") {
      f.topks = ParseList<float>(next), ++i;
    } else if (a == "--hidden") {
      f.hidden = std::atoll(next), ++i;
    } else if (a == "--reps") {
      f.reps = std::max(1, std::atoi(next)), ++i;
    } else if (a == "--sweep") {
      f.sweep = true;
    } else if (a == "--parts") {
      f.parts = true;
    } else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of bench/sla_bench.cc)\n",
                   a.c_str());
      std::exit(2);
    }
  }
  return f;
}

Tensor Random(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> v(rows * cols);
  for (float& x : v) x = n(gen);
  return *Tensor::FromVector({rows, cols}, v);
}

// Wall time, and CPU time of the whole process (all threads): on a machine shared with other
// jobs the wall clock mostly measures their load, CPU seconds the work done (OpenMP waits
// passively here, so idle threads add little).
struct Timing {
  double wall = 1e30, cpu = 1e30;
};

// Random N(0, 1) q, k, v of n tokens at head dim d, hidden / d heads; softmax scale 1/sqrt(d).
struct Problem {
  int64_t heads;
  Tensor q, k, v;
  float scale;
};
Problem MakeProblem(int64_t n, int64_t d, int64_t hidden) {
  const int64_t heads = hidden / d;
  return {heads, Random(n, heads * d, 1), Random(n, heads * d, 2), Random(n, heads * d, 3),
          1.0f / std::sqrt(static_cast<float>(d))};
}

absl::StatusOr<Tensor> FlashOf(const Problem& p) {
  return ops::FlashAttention(p.q, p.k, p.v, nullptr, p.heads, p.scale, {});
}

double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

Timing Measure(const std::function<void()>& fn) {
  const double c0 = CpuNow();
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          CpuNow() - c0};
}

void Check(const absl::StatusOr<Tensor>& t) {
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
    std::exit(1);
  }
}

// Best of reps for each variant, run round-robin so that load changes hit all variants alike.
std::vector<Timing> BestOf(int reps, const std::vector<std::function<void()>>& variants) {
  std::vector<Timing> best(variants.size());
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < variants.size(); ++i) {
      const Timing t = Measure(variants[i]);
      best[i].wall = std::min(best[i].wall, t.wall);
      best[i].cpu = std::min(best[i].cpu, t.cpu);
    }
  }
  return best;
}

void Compare(const Flags& f) {
  std::printf(
      "| tokens | d | heads | tiled softmax s (cpu-s) | SLA top-k | critical tiles | softmax FLOPs "
      "skipped | linear-branch FLOPs (of dense) | SLA s (cpu-s) | speedup wall | speedup cpu |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const int64_t n : f.tokens) {
    for (const int64_t d : f.dims) {
      const Problem p = MakeProblem(n, d, f.hidden);
      const int64_t heads = p.heads;
      const Tensor &q = p.q, &k = p.k, &v = p.v;
      const float scale = p.scale;
      std::vector<std::function<void()>> variants = {
          [&] { Check(ops::FlashAttention(q, k, v, nullptr, heads, scale, {})); }};
      std::vector<ops::SparseAttentionStats> stats(f.topks.size());
      for (size_t i = 0; i < f.topks.size(); ++i) {
        variants.push_back([&, i] {
          Check(ops::SparseLinearAttention(q, k, v, heads, scale, {}, {f.topks[i]}, &stats[i]));
        });
      }
      const std::vector<Timing> s = BestOf(f.reps, variants);
      const double dense = 4.0 * n * n * d * heads;
      for (size_t i = 0; i < f.topks.size(); ++i) {
        const double kept = static_cast<double>(stats[i].tiles_computed) / stats[i].tiles_allowed;
        // Per head: S_j (2 n d^2), the readout (2 n d^2), the subtraction (critical tiles x d^2).
        const double linear = (4.0 * n * d * d + stats[i].tiles_computed / heads * d * d) * heads;
        std::printf(
            "| %lld | %lld | %lld | %.3f (%.3f) | %.2f | %lld / %lld | %.1f%% | %.2f%% | %.3f "
            "(%.3f) | %.2f× | %.2f× |\n",
            static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(heads),
            s[0].wall, s[0].cpu, f.topks[i], static_cast<long long>(stats[i].tiles_computed),
            static_cast<long long>(stats[i].tiles_allowed), 100.0 * (1.0 - kept),
            100.0 * linear / dense, s[i + 1].wall, s[i + 1].cpu, s[0].wall / s[i + 1].wall,
            s[0].cpu / s[i + 1].cpu);
        std::fflush(stdout);
      }
    }
  }
  // The materialized softmax (an nq x nk score block per task) at the shortest length.
  const int64_t n = f.tokens.front();
  std::printf(
      "\n| tokens | d | heads | ops::SoftmaxAttention s (cpu-s) | tiled softmax s (cpu-s) | "
      "ratio wall | ratio cpu |\n|---|---|---|---|---|---|---|\n");
  for (const int64_t d : f.dims) {
    const Problem p = MakeProblem(n, d, f.hidden);
    const int64_t heads = p.heads;
    const Tensor &q = p.q, &k = p.k, &v = p.v;
    const float scale = p.scale;
    const std::vector<Timing> s =
        BestOf(f.reps, {[&] { Check(ops::SoftmaxAttention(q, k, v, nullptr, heads, scale)); },
                        [&] { Check(ops::FlashAttention(q, k, v, nullptr, heads, scale, {})); }});
    std::printf("| %lld | %lld | %lld | %.3f (%.3f) | %.3f (%.3f) | %.2f× | %.2f× |\n",
                static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(heads),
                s[0].wall, s[0].cpu, s[1].wall, s[1].cpu, s[0].wall / s[1].wall,
                s[0].cpu / s[1].cpu);
  }
}

// Tile sizes: the tiled softmax per query tile (its key tiles only bound the block rule; keys are
// gathered in chunks of 256), then SLA at the middle top-k for every (tile_q, tile_k), each against
// the best tiled softmax.
void Sweep(const Flags& f) {
  const float topk = f.topks[f.topks.size() / 2];
  const std::vector<int64_t> sizes = {32, 64, 128, 256};
  for (const int64_t n : f.tokens) {
    for (const int64_t d : f.dims) {
      const Problem p = MakeProblem(n, d, f.hidden);
      const int64_t heads = p.heads;
      const Tensor &q = p.q, &k = p.k, &v = p.v;
      Tensor out = *Tensor::Empty({n, heads * d});
      const float scale = p.scale;
      std::vector<std::function<void()>> variants;
      for (const int64_t tq : sizes) {
        variants.push_back([&, tq] {
          kernels::cpu::FlashAttention(q.data<float>(), k.data<float>(), v.data<float>(), nullptr,
                                       n, n, heads, d, scale, {}, tq, 64, out.data<float>());
        });
      }
      for (const int64_t tq : sizes) {
        for (const int64_t tk : sizes) {
          variants.push_back([&, tq, tk] {
            Check(ops::SparseLinearAttention(q, k, v, heads, scale, {}, {topk, tq, tk}));
          });
        }
      }
      std::vector<double> s;  // CPU seconds (see Timing)
      for (const Timing& t : BestOf(f.reps, variants)) s.push_back(t.cpu);
      const double best = *std::min_element(s.begin(), s.begin() + sizes.size());
      std::printf(
          "\n%lld tokens, d %lld, %lld heads: tiled softmax CPU seconds by tile_q\n\n| tile_q |",
          static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(heads));
      for (const int64_t tq : sizes) std::printf(" %lld |", static_cast<long long>(tq));
      std::printf("\n|---|---|---|---|---|\n| s |");
      for (size_t i = 0; i < sizes.size(); ++i) std::printf(" %.3f |", s[i]);
      std::printf(
          "\n\nSLA top-k %.2f, CPU-time speedup over the best tiled softmax (%.3f cpu-s)\n\n"
          "| tile_q \\ tile_k |",
          topk, best);
      for (const int64_t tk : sizes) std::printf(" %lld |", static_cast<long long>(tk));
      std::printf("\n|---|---|---|---|---|\n");
      for (size_t a = 0; a < sizes.size(); ++a) {
        std::printf("| %lld |", static_cast<long long>(sizes[a]));
        for (size_t b = 0; b < sizes.size(); ++b) {
          std::printf(" %.2f× |", best / s[sizes.size() + a * sizes.size() + b]);
        }
        std::printf("\n");
      }
      std::fflush(stdout);
    }
  }
}

// Where SLA's time goes: the block map, the sparse branch (map included) and the whole op.
void Parts(const Flags& f) {
  std::printf(
      "CPU seconds\n\n| tokens | d | top-k | tiled softmax | block map | block-sparse | SLA |\n"
      "|---|---|---|---|---|---|---|\n");
  for (const int64_t n : f.tokens) {
    for (const int64_t d : f.dims) {
      const Problem p = MakeProblem(n, d, f.hidden);
      for (const float topk : f.topks) {
        const ops::SparseAttentionOptions o{topk};
        const std::vector<Timing> s = BestOf(
            f.reps,
            {[&] { Check(FlashOf(p)); },
             [&] {
               if (!ops::SparseTileMap(p.q, p.k, p.heads, {}, o, true).ok()) std::exit(1);
             },
             [&] { Check(ops::BlockSparseAttention(p.q, p.k, p.v, p.heads, p.scale, {}, o)); },
             [&] { Check(ops::SparseLinearAttention(p.q, p.k, p.v, p.heads, p.scale, {}, o)); }});
        std::printf("| %lld | %lld | %.2f | %.3f | %.3f | %.3f | %.3f |\n",
                    static_cast<long long>(n), static_cast<long long>(d), topk, s[0].cpu, s[1].cpu,
                    s[2].cpu, s[3].cpu);
        std::fflush(stdout);
      }
    }
  }
}

}  // namespace
}  // namespace reel::bench

int main(int argc, char** argv) {
  // As `reel` (tools/reel/main.cc): libgomp reads its wait policy when loaded, so set it and start
  // again. Passive waiting keeps spinning threads out of the CPU-time figures.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
  }
  const reel::bench::Flags flags = reel::bench::Parse(argc, argv);
  if (flags.parts) {
    reel::bench::Parts(flags);
  } else if (flags.sweep) {
    reel::bench::Sweep(flags);
  } else {
    reel::bench::Compare(flags);
  }
  return 0;
}
