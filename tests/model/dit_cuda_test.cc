// The DiT on a GPU against the same model on the CPU (issue 19): f32 placement within 1e-4 of the
// CPU's velocities and block-autoregressive latents, bf16 within a stated tolerance, device memory
// flat in video length, and clear errors where no GPU is usable. The GPU comparisons skip with the
// probe's reason on a machine without one; the error paths run everywhere.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "gtest/gtest.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/generate/reel_parts.h"
#include "pipeline/model/placement.h"
#include "pipeline/tensor/device_memory.h"
#include "tests/model/tiny_dit.h"

namespace reel {
namespace {

using testing::Random;
using testing::TinyDit;

bool GpuUsable() { return CheckDeviceUsable(Device::Cuda(0)).ok(); }

#define REEL_SKIP_WITHOUT_GPU() \
  if (!GpuUsable()) GTEST_SKIP() << CheckDeviceUsable(Device::Cuda(0)).message()

const Placement kCudaF32{Device::Cuda(0), ComputePrecision::kF32};
const Placement kCudaBf16{Device::Cuda(0), ComputePrecision::kBf16};

PreparedCaption Caption(const Dit& dit, uint32_t seed) {
  std::vector<float> mask(7, 0.0f);
  std::fill(mask.begin(), mask.begin() + 5, 1.0f);
  return *dit.PrepareCaption(Random({7, 24}, seed), *Tensor::FromVector({7}, mask));
}

// max |a − b| / max |b|: relative to the output's scale, so one tolerance fits every test.
double RelMaxDiff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  EXPECT_EQ(x.size(), y.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    diff = std::max(diff, std::abs(double(x[i]) - y[i]));
    scale = std::max(scale, std::abs(double(y[i])));
  }
  return diff / scale;
}

TEST(DitCudaErrors, PlacingOnAnAbsentGpuSaysWhy) {
  if (GpuUsable()) GTEST_SKIP() << "a GPU is usable here";
  const absl::StatusOr<Dit> placed = TinyDit().Placed(kCudaF32);
  ASSERT_FALSE(placed.ok());
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(placed.status().message().find("cuda:0"), std::string::npos) << placed.status();
  const absl::StatusOr<PlacementChoice> flag = ResolvePlacement("cuda", "");
  ASSERT_FALSE(flag.ok());
  EXPECT_EQ(flag.status().code(), absl::StatusCode::kUnavailable);
}

TEST(DitCudaErrors, FlagsAreParsedStrictly) {
  EXPECT_EQ(ResolvePlacement("gpu", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolvePlacement("cuda:-1", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolvePlacement("cpu", "fp8").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolvePlacement("cpu", "bf16").status().code(), absl::StatusCode::kInvalidArgument);
  const absl::StatusOr<PlacementChoice> cpu = ResolvePlacement("cpu", "");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_TRUE(cpu->placement.device.is_cpu());
  EXPECT_EQ(cpu->placement.precision, ComputePrecision::kF32);
  // auto never fails: the CPU when no GPU is usable, with the reason in the line.
  const absl::StatusOr<PlacementChoice> automatic = ResolvePlacement("auto", "");
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_EQ(automatic->placement.device.is_cpu(), !GpuUsable()) << automatic->line;
  EXPECT_NE(automatic->line.find("auto"), std::string::npos) << automatic->line;
  // A sequence-parallel rank: auto means the CPU whatever the machine.
  EXPECT_TRUE(ResolvePlacement("auto", "", true)->placement.device.is_cpu());
}

// Bidirectional, batched CFG branches: every op of the forward on the GPU.
TEST(DitCuda, F32ForwardMatchesCpu) {
  REEL_SKIP_WITHOUT_GPU();
  const Dit cpu = TinyDit();
  const Dit gpu = *cpu.Placed(kCudaF32);
  const Tensor x = Random({4, 4, 8, 8}, 20);
  const PreparedCaption c_cpu = Caption(cpu, 3), u_cpu = Caption(cpu, 4);
  const PreparedCaption c_gpu = Caption(gpu, 3), u_gpu = Caption(gpu, 4);
  const PreparedCaption* both_cpu[] = {&c_cpu, &u_cpu};
  const PreparedCaption* both_gpu[] = {&c_gpu, &u_gpu};
  const std::vector<Tensor> want = *cpu.ForwardBranches(x, {300.0f}, both_cpu, {});
  const absl::StatusOr<std::vector<Tensor>> got = gpu.ForwardBranches(x, {300.0f}, both_gpu, {});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  for (int b = 0; b < 2; ++b) {
    EXPECT_TRUE((*got)[b].device().is_cpu());  // back where the latents were
    EXPECT_LE(RelMaxDiff((*got)[b], want[b]), 1e-4) << "branch " << b;
  }
}

// bf16 projections: f32 accumulation keeps the velocity within ~1% (bf16 has 8 significant bits;
// errors of independent roundings average out over each dot product).
TEST(DitCuda, Bf16ForwardIsCloseToCpu) {
  REEL_SKIP_WITHOUT_GPU();
  const Dit cpu = TinyDit();
  const Dit gpu = *cpu.Placed(kCudaBf16);
  const Tensor x = Random({4, 4, 8, 8}, 21);
  const Tensor want = *cpu.Forward(x, {500.0f}, Caption(cpu, 3), {});
  const absl::StatusOr<Tensor> got = gpu.Forward(x, {500.0f}, Caption(gpu, 3), {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_LE(RelMaxDiff(*got, want), 3e-2);
  EXPECT_GT(RelMaxDiff(*got, want), 0.0);  // it really ran in bf16
}

// The block-autoregressive loop with its state on the GPU: the latents of three blocks.
TEST(DitCuda, BlockAutoregressiveLatentsMatchCpu) {
  REEL_SKIP_WITHOUT_GPU();
  for (const char* attention : {"linear", "softmax", "sparse_linear"}) {
    nlohmann::json j = testing::TinyDitJson();
    j["attention"] = attention;
    WeightStore w = WeightStore::RandomForTesting(1);
    const Dit cpu = *Dit::Load(*ParseDitConfig(j), w);
    const Dit gpu = *cpu.Placed(kCudaF32);
    BlockGenerationParams p;
    p.sampling.steps = 3;
    p.sampling.cfg_scale = 3.0;
    p.latent_frames = 6;
    p.latent_height = 8;
    p.latent_width = 8;
    p.block_frames = 2;
    p.seed = 7;
    const auto run = [&](const Dit& dit) {
      std::vector<float> all;
      const PreparedCaption c = Caption(dit, 3), u = Caption(dit, 4);
      const absl::Status s =
          GenerateBlocks(dit, c, &u, p, nullptr, [&](int64_t, const Tensor& latents) {
            const std::vector<float> v = *latents.ToVector();
            all.insert(all.end(), v.begin(), v.end());
            return absl::OkStatus();
          });
      EXPECT_TRUE(s.ok()) << attention << ": " << s;
      return *Tensor::FromVector({static_cast<int64_t>(all.size())}, all);
    };
    EXPECT_LE(RelMaxDiff(run(gpu), run(cpu)), 1e-4) << attention;
  }
}

// Constant memory on the device: the pool's high-water mark while generating block 8 is the one
// while generating block 2 (the state is the only thing carried, and it has a fixed size).
TEST(DitCuda, DeviceMemoryIsFlatInVideoLength) {
  REEL_SKIP_WITHOUT_GPU();
  const Dit gpu = *TinyDit().Placed(kCudaF32);
  const PreparedCaption c = Caption(gpu, 3);
  ModelState state = *gpu.NewState(16);
  ForwardOptions o;
  o.state = &state;
  o.causal_block_frames = 2;
  std::vector<int64_t> peaks;
  for (int block = 0; block < 8; ++block) {
    ASSERT_TRUE(ResetPeakMemory(Device::Cuda(0)).ok());
    o.frame_offset = 2 * block;
    const Tensor x = Random({4, 2, 8, 8}, 30 + block);
    o.update_state = false;
    ASSERT_TRUE(gpu.Forward(x, {400.0f}, c, o).ok());
    o.update_state = true;
    ASSERT_TRUE(gpu.Forward(x, {0.0f}, c, o).ok());
    ASSERT_TRUE(Synchronize(Device::Cuda(0)).ok());
    peaks.push_back(MemoryStats(Device::Cuda(0))->peak_bytes);
  }
  // Block 0 has no window yet (kinds with an exact branch); from block 1 on nothing may grow.
  for (int block = 2; block < 8; ++block) {
    EXPECT_LE(peaks[block], peaks[1] + (64 << 10)) << "block " << block;
  }
}

// ‖a − b‖ / ‖b‖ over all elements.
double RelL2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// The shipped model's whole sampling loop (its own text encoder, sampler settings and block size),
// two blocks at 64x64: the latents a render decodes, on the GPU and on the CPU.
TEST(DitCuda, ReelTinyRenderLatentsMatchCpu) {
  REEL_SKIP_WITHOUT_GPU();
  // From the repository root (tools/gpu/check.sh on a GPU machine), else the source tree.
  std::string dir = "models/reel-tiny";
  if (!std::filesystem::exists(dir + "/config.json")) dir = REEL_SOURCE_DIR "/models/reel-tiny";
  if (!std::filesystem::exists(dir + "/config.json")) GTEST_SKIP() << "no models/reel-tiny";
  const RendererParts parts = *LoadReelParts(dir);
  const EncodedCaption cond = *parts.text->Encode("a red circle moving right", false);
  const EncodedCaption uncond = *parts.text->Encode("", true);
  BlockGenerationParams p;
  p.sampling.steps = parts.sampler.steps;
  p.sampling.cfg_scale = parts.sampler.cfg_scale;
  p.sampling.solver = parts.sampler.solver;
  p.sampling.flow_shift = parts.sampler.flow_shift;
  p.sampling.num_train_timesteps = parts.sampler.num_train_timesteps;
  p.block_frames = parts.transformer.block_frames;
  p.latent_frames = 2 * p.block_frames * parts.transformer.patch_size[0];
  p.latent_height = p.latent_width = 16;
  p.seed = 42;
  const auto run = [&](const Dit& dit) {
    std::vector<float> all;
    const PreparedCaption c = *dit.PrepareCaption(cond.hidden, cond.mask);
    const PreparedCaption u = *dit.PrepareCaption(uncond.hidden, uncond.mask);
    const absl::Status s =
        GenerateBlocks(dit, c, &u, p, nullptr, [&](int64_t, const Tensor& latents) {
          const std::vector<float> v = *latents.ToVector();
          all.insert(all.end(), v.begin(), v.end());
          return absl::OkStatus();
        });
    EXPECT_TRUE(s.ok()) << s;
    return all;
  };
  const std::vector<float> cpu = run(parts.dit);
  const std::vector<float> f32 = run(*parts.dit.Placed(kCudaF32));
  const std::vector<float> bf16 = run(*parts.dit.Placed(kCudaBf16));
  const Tensor cpu_t = *Tensor::FromVector({static_cast<int64_t>(cpu.size())}, cpu);
  const double f32_max =
      RelMaxDiff(*Tensor::FromVector({static_cast<int64_t>(f32.size())}, f32), cpu_t);
  const double bf16_l2 = RelL2(bf16, cpu);
  std::printf("reel-tiny latents vs CPU: f32 max rel %.3g, bf16 rel L2 %.3g\n", f32_max, bf16_l2);
  EXPECT_LE(f32_max, 1e-4);
  // bf16 projections through a whole trajectory (steps x CFG x 2 blocks): a few percent at most.
  EXPECT_LE(bf16_l2, 5e-2);
}

}  // namespace
}  // namespace reel
