// reel's text encoder and causal VAE decoder placed on a GPU against the same models on the CPU
// (the oracle: the CPU path is itself checked against the PyTorch reference in text_encoder_test
// and vae_decoder_test). f32 placements: hidden states within 1e-4 absolute, pixels within
// 1e-4 × max |pixel| over two streamed chunks (the caches carried on the device). Without a usable
// GPU those tests skip with the reason; placing on a GPU that is not there, and the CPU-side
// pieces, are checked everywhere.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/generate/reel_parts.h"
#include "pipeline/model/text_encoder.h"
#include "pipeline/model/vae_decoder.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/ops.h"

namespace reel {
namespace {

const Device kGpu = Device::Cuda(0);
// No machine has 64 GPUs: placing there must fail cleanly with or without CUDA.
const Device kAbsentGpu = Device::Cuda(64);
constexpr char kTinyModel[] = "models/reel-tiny";  // tests run from the source root

#define SKIP_WITHOUT_GPU()                                            \
  do {                                                                \
    const absl::Status usable = CheckDeviceUsable(kGpu);              \
    if (!usable.ok()) GTEST_SKIP() << "no GPU: " << usable.message(); \
  } while (0)

std::vector<float> Values(const Tensor& t) {
  absl::StatusOr<std::vector<float>> v = t.ToVector();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : std::vector<float>();
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::abs(double(x)));
  return m;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size() || a.empty()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    if (!(d <= m)) m = d;  // NaN wins
  }
  return m;
}

Tensor RandomTensor(const Shape& shape, uint32_t seed, float lo = -1.5f, float hi = 1.5f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(NumElements(shape));
  for (float& x : v) x = dist(gen);
  return *Tensor::FromVector(shape, v);
}

TextEncoderConfig RandomTextConfig() {
  TextEncoderConfig c;
  c.vocab_size = 40;
  c.dim = 48;
  c.num_layers = 2;
  c.num_heads = 4;
  c.mlp_hidden = 96;
  c.max_tokens = 12;
  return c;
}

TextEncoder RandomTextEncoder() {
  const TextEncoderConfig c = RandomTextConfig();
  WeightStore store = WeightStore::RandomForTesting(19);
  absl::StatusOr<TextEncoder> e = TextEncoder::Load(c, store);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

TokenizedPrompt RandomPrompt(const TextEncoderConfig& c) {
  TokenizedPrompt p;
  for (int i = 0; i < c.max_tokens; ++i) {
    p.ids.push_back((7 * i + 3) % c.vocab_size);
    p.mask.push_back(i < 9 ? 1.0f : 0.0f);  // three padded rows
  }
  return p;
}

// reel-tiny's VAE widths with random weights.
VaeDecoder RandomVae() {
  VaeConfig c;
  c.latent_channels = 8;
  c.channels = {16, 32, 64};
  c.latents_mean.assign(8, 0.1f);
  c.latents_std.assign(8, 1.5f);
  WeightStore store = WeightStore::RandomForTesting(23);
  absl::StatusOr<VaeDecoder> vae = VaeDecoder::Load(c, store);
  EXPECT_TRUE(vae.ok()) << vae.status();
  return *std::move(vae);
}

// Pixels of `latents` decoded by `vae` in chunks of the given latent frames, each on the host.
std::vector<std::vector<float>> DecodeChunks(const VaeDecoder& vae, const Tensor& latents,
                                             const std::vector<int64_t>& chunks,
                                             const Device& latents_device) {
  std::vector<std::vector<float>> out;
  absl::StatusOr<VaeStream> stream = vae.NewStream(latents.dim(2), latents.dim(3));
  EXPECT_TRUE(stream.ok()) << stream.status();
  if (!stream.ok()) return out;
  int64_t at = 0;
  for (const int64_t n : chunks) {
    absl::StatusOr<Tensor> part = latents.Slice(1, at, at + n);
    EXPECT_TRUE(part.ok());
    absl::StatusOr<Tensor> moved = ToDevice(*part, latents_device);
    EXPECT_TRUE(moved.ok()) << moved.status();
    if (!moved.ok()) return out;
    absl::StatusOr<Tensor> px = vae.DecodeUnclamped(*stream, *moved);
    EXPECT_TRUE(px.ok()) << px.status();
    if (!px.ok()) return out;
    EXPECT_TRUE(px->device().is_cpu()) << "frames must come back to the host";
    out.push_back(Values(*px));
    at += n;
  }
  return out;
}

TEST(PlacementTest, AbsentGpuIsUnavailableWithTheReason) {
  const TextEncoder encoder = RandomTextEncoder();
  absl::StatusOr<TextEncoder> placed = encoder.Placed({kAbsentGpu, ComputePrecision::kF32});
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kUnavailable) << placed.status();
  EXPECT_NE(placed.status().message().find("cuda:64 requested"), std::string::npos)
      << placed.status();
  const VaeDecoder vae = RandomVae();
  absl::StatusOr<VaeDecoder> placed_vae = vae.Placed(Placement::Default(kAbsentGpu));
  EXPECT_EQ(placed_vae.status().code(), absl::StatusCode::kUnavailable) << placed_vae.status();
  EXPECT_NE(placed_vae.status().message().find("cuda:64 requested"), std::string::npos)
      << placed_vae.status();

  // Through the renderer's interfaces: the failed Place leaves the parts working on the CPU.
  absl::StatusOr<RendererParts> parts = LoadReelParts(kTinyModel);
  ASSERT_TRUE(parts.ok()) << parts.status();
  const absl::Status text = parts->text->Place(Placement::Default(kAbsentGpu));
  EXPECT_EQ(text.code(), absl::StatusCode::kUnavailable) << text;
  EXPECT_TRUE(parts->text->device().is_cpu());
  absl::StatusOr<EncodedCaption> caption = parts->text->Encode("a red ball", false);
  ASSERT_TRUE(caption.ok()) << caption.status();
  EXPECT_TRUE(caption->hidden.device().is_cpu());
  const absl::Status decoder = parts->vae->Place(Placement::Default(kAbsentGpu));
  EXPECT_EQ(decoder.code(), absl::StatusCode::kUnavailable) << decoder;
  EXPECT_TRUE(parts->vae->device().is_cpu());
}

// The state carried across chunks matters (so the two-chunk comparisons below check it): the
// second chunk decoded after the first differs from the same latents decoded as a new video, and
// matches decoding everything at once.
TEST(PlacementTest, SecondChunkDependsOnTheCarriedCaches) {
  const VaeDecoder vae = RandomVae();
  const Tensor latents = RandomTensor({8, 4, 6, 5}, 5);
  const auto whole = DecodeChunks(vae, latents, {4}, Device::Cpu());
  const auto streamed = DecodeChunks(vae, latents, {1, 3}, Device::Cpu());
  ASSERT_EQ(whole.size(), 1u);
  ASSERT_EQ(streamed.size(), 2u);
  std::vector<float> joined;  // per channel: frames of chunk 1, then of chunk 2
  const size_t plane = 24 * 20, frames1 = 4, frames2 = 12;
  for (size_t c = 0; c < 3; ++c) {
    joined.insert(joined.end(), streamed[0].begin() + c * frames1 * plane,
                  streamed[0].begin() + (c + 1) * frames1 * plane);
    joined.insert(joined.end(), streamed[1].begin() + c * frames2 * plane,
                  streamed[1].begin() + (c + 1) * frames2 * plane);
  }
  EXPECT_LE(MaxAbsDiff(joined, whole[0]), 1e-5);
  absl::StatusOr<Tensor> tail = latents.Slice(1, 1, 4);
  ASSERT_TRUE(tail.ok());
  const auto fresh = DecodeChunks(vae, *tail, {3}, Device::Cpu());
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_GT(MaxAbsDiff(fresh[0], streamed[1]), 1e-3) << "the caches changed nothing";
}

// Calibrates the bf16 bound below on the CPU: the same encoder with its projection weights rounded
// to bf16 moves the hidden states by well under 5% of their largest value.
TEST(PlacementTest, Bf16ProjectionWeightsStayWithinTheStatedBound) {
  const TextEncoderConfig c = RandomTextConfig();
  WeightStore random = WeightStore::RandomForTesting(19);
  absl::StatusOr<TextEncoder> exact = TextEncoder::Load(c, random);
  ASSERT_TRUE(exact.ok()) << exact.status();
  std::map<std::string, Tensor> rounded = random.invented();
  int projections = 0;
  for (auto& [name, t] : rounded) {
    for (const char* p :
         {".q.weight", ".k.weight", ".v.weight", ".o.weight", ".fc1.weight", ".fc2.weight"}) {
      if (name.size() > std::strlen(p) && name.ends_with(p)) {
        t = *ops::Cast(*ops::Cast(t, DType::kBF16), DType::kF32);
        ++projections;
      }
    }
  }
  EXPECT_EQ(projections, 6 * c.num_layers);
  WeightStore store = WeightStore::FromTensors(rounded, "bf16-rounded");
  absl::StatusOr<TextEncoder> approx = TextEncoder::Load(c, store);
  ASSERT_TRUE(approx.ok()) << approx.status();
  const TokenizedPrompt prompt = RandomPrompt(c);
  const std::vector<float> ref = Values(*exact->Encode(prompt));
  const double err = MaxAbsDiff(Values(*approx->Encode(prompt)), ref);
  std::printf("  bf16-rounded projection weights on the CPU: max abs err %.3g (max |h| %.3g)\n",
              err, MaxAbs(ref));
  EXPECT_GT(err, 0.0);
  EXPECT_LE(err, 0.01 * MaxAbs(ref));
}

TEST(PlacementTest, TextEncoderOnGpuMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const TextEncoder encoder = RandomTextEncoder();
  const TokenizedPrompt prompt = RandomPrompt(encoder.config());
  absl::StatusOr<Tensor> want = encoder.Encode(prompt);
  ASSERT_TRUE(want.ok()) << want.status();
  const std::vector<float> ref = Values(*want);

  absl::StatusOr<TextEncoder> f32 = encoder.Placed({kGpu, ComputePrecision::kF32});
  ASSERT_TRUE(f32.ok()) << f32.status();
  absl::StatusOr<Tensor> got = f32->Encode(prompt);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->device(), kGpu);
  const double err = MaxAbsDiff(Values(*got), ref);
  std::printf("  text encoder f32 on %s: max abs err %.3g\n", DeviceName(kGpu).c_str(), err);
  EXPECT_LE(err, 1e-4);

  // bf16 projections: rounding the weights (and, with the bf16 GEMMs, the projections' inputs)
  // to 8 bits of mantissa moves LayerNorm'd hidden states by ~1e-2; 5% of the largest is the
  // stated bound (a wrong kernel is off by O(1)).
  absl::StatusOr<TextEncoder> bf16 = encoder.Placed({kGpu, ComputePrecision::kBf16});
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  absl::StatusOr<Tensor> got16 = bf16->Encode(prompt);
  ASSERT_TRUE(got16.ok()) << got16.status();
  const double err16 = MaxAbsDiff(Values(*got16), ref);
  std::printf("  text encoder bf16 on %s: max abs err %.3g (max |h| %.3g)\n",
              DeviceName(kGpu).c_str(), err16, MaxAbs(ref));
  EXPECT_LE(err16, 0.05 * MaxAbs(ref));
}

TEST(PlacementTest, VaeDecodeOnGpuMatchesCpuOverTwoChunks) {
  SKIP_WITHOUT_GPU();
  const VaeDecoder vae = RandomVae();
  absl::StatusOr<VaeDecoder> placed = vae.Placed(Placement::Default(kGpu));
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->device(), kGpu);
  const Tensor latents = RandomTensor({8, 4, 6, 5}, 7);
  // One latent frame, then three: both cache updates (t = 1 and t >= 2) run on the device.
  const auto want = DecodeChunks(vae, latents, {1, 3}, Device::Cpu());
  for (const Device& from : {Device::Cpu(), kGpu}) {
    const auto got = DecodeChunks(*placed, latents, {1, 3}, from);
    ASSERT_EQ(got.size(), 2u);
    for (int i = 0; i < 2; ++i) {
      const double err = MaxAbsDiff(got[i], want[i]), scale = MaxAbs(want[i]);
      std::printf("  VAE chunk %d on %s (latents on %s): max abs err %.3g, max |pixel| %.3g\n",
                  i + 1, DeviceName(kGpu).c_str(), DeviceName(from).c_str(), err, scale);
      EXPECT_LE(err, 1e-4 * scale) << "chunk " << i + 1;
    }
  }
}

TEST(PlacementTest, VaeDeviceMemoryDoesNotGrowWithTheVideo) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<VaeDecoder> vae = RandomVae().Placed(Placement::Default(kGpu));
  ASSERT_TRUE(vae.ok()) << vae.status();
  absl::StatusOr<VaeStream> stream = vae->NewStream(6, 5);
  ASSERT_TRUE(stream.ok()) << stream.status();
  const Tensor latents = RandomTensor({8, 2, 6, 5}, 11);
  int64_t first = -1;
  for (int chunk = 0; chunk < 4; ++chunk) {
    absl::StatusOr<Tensor> px = vae->Decode(*stream, latents);
    ASSERT_TRUE(px.ok()) << px.status();
    ASSERT_TRUE(Synchronize(kGpu).ok());
    absl::StatusOr<DeviceMemoryStats> stats = MemoryStats(kGpu);
    ASSERT_TRUE(stats.ok()) << stats.status();
    std::printf("  after chunk %d: %lld bytes in use on %s\n", chunk + 1,
                static_cast<long long>(stats->in_use_bytes), DeviceName(kGpu).c_str());
    if (chunk == 0) first = stats->in_use_bytes;
    EXPECT_LE(stats->in_use_bytes, first) << "chunk " << chunk + 1;
  }
}

TEST(PlacementTest, VaeRefusesAStreamMadeOnAnotherDevice) {
  SKIP_WITHOUT_GPU();
  const VaeDecoder vae = RandomVae();
  absl::StatusOr<VaeDecoder> placed = vae.Placed(Placement::Default(kGpu));
  ASSERT_TRUE(placed.ok()) << placed.status();
  absl::StatusOr<VaeStream> host_stream = vae.NewStream(6, 5);
  ASSERT_TRUE(host_stream.ok());
  absl::StatusOr<Tensor> px = placed->Decode(*host_stream, RandomTensor({8, 1, 6, 5}, 3));
  EXPECT_EQ(px.status().code(), absl::StatusCode::kInvalidArgument) << px.status();
}

// reel-tiny's own weights through the renderer's interfaces (what `--device cuda` will place).
TEST(PlacementTest, ReelTinyPartsOnGpuMatchCpu) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<RendererParts> cpu = LoadReelParts(kTinyModel);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  absl::StatusOr<RendererParts> gpu = LoadReelParts(kTinyModel);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const Placement f32{kGpu, ComputePrecision::kF32};
  ASSERT_TRUE(gpu->text->Place(f32).ok());
  ASSERT_TRUE(gpu->vae->Place(f32).ok());
  EXPECT_EQ(gpu->text->device(), kGpu);
  EXPECT_EQ(gpu->vae->device(), kGpu);

  for (const char* prompt : {"a red ball bouncing on a wooden floor", ""}) {
    absl::StatusOr<EncodedCaption> want = cpu->text->Encode(prompt, false);
    absl::StatusOr<EncodedCaption> got = gpu->text->Encode(prompt, false);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
    EXPECT_EQ(got->hidden.device(), kGpu);
    EXPECT_EQ(got->mask.device(), kGpu);
    EXPECT_EQ(Values(got->mask), Values(want->mask));
    const double err = MaxAbsDiff(Values(got->hidden), Values(want->hidden));
    std::printf("  reel-tiny caption '%s': max abs err %.3g\n", prompt, err);
    EXPECT_LE(err, 1e-4);
  }

  const Tensor latents = RandomTensor({8, 3, 8, 8}, 13, -2.0f, 2.0f);
  absl::StatusOr<std::unique_ptr<LatentStream>> cpu_stream = cpu->vae->NewStream(8, 8);
  absl::StatusOr<std::unique_ptr<LatentStream>> gpu_stream = gpu->vae->NewStream(8, 8);
  ASSERT_TRUE(cpu_stream.ok() && gpu_stream.ok());
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 2}, {2, 3}}) {
    const Tensor part = *latents.Slice(1, begin, end);
    absl::StatusOr<Tensor> want = cpu->vae->Decode(**cpu_stream, part);
    absl::StatusOr<Tensor> got = gpu->vae->Decode(**gpu_stream, *ToDevice(part, kGpu));
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
    EXPECT_TRUE(got->device().is_cpu());
    const std::vector<float> ref = Values(*want);
    const double err = MaxAbsDiff(Values(*got), ref);
    std::printf("  reel-tiny VAE frames %lld..%lld: max abs err %.3g\n",
                static_cast<long long>(begin), static_cast<long long>(end), err);
    EXPECT_LE(err, 1e-4 * std::max(MaxAbs(ref), 1e-3));
  }
}

}  // namespace
}  // namespace reel
