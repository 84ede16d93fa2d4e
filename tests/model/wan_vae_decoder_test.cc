// The Wan2.1 VAE decoder against the independent PyTorch reference (tools/reference/reel_ref/
// wan_vae.py, written live by make_wan_vae_golden.py into the build tree: a random-weight
// AutoencoderKLWan directory with diffusers' names, decoded the way diffusers' _decode does, in
// float64): pixels within 1e-4; any chunking equals decoding everything at once; frame counts; a
// constant cache over a long video; clear errors for bad configs, weights and inputs.
#include "pipeline/model/wan_vae_decoder.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/tensor/safetensors.h"

namespace reel {
namespace {

using ::testing::HasSubstr;

constexpr char kDir[] = REEL_WAN_VAE_GOLDEN;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << path;
  return j;
}

float MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(ShapeString(a.shape()), ShapeString(b.shape()));
  if (a.shape() != b.shape()) return INFINITY;
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float m = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Frames [begin, end) of a (C, T, H, W) tensor, contiguous.
Tensor Frames(const Tensor& x, int64_t begin, int64_t end) {
  absl::StatusOr<Tensor> s = x.Slice(1, begin, end);
  EXPECT_TRUE(s.ok()) << s.status();
  absl::StatusOr<Tensor> c = s->Contiguous();
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

// Concatenation along time of decoded chunks.
Tensor Concat(const std::vector<Tensor>& parts) {
  int64_t t = 0;
  for (const Tensor& p : parts) t += p.dim(1);
  const Tensor& f = parts.front();
  const int64_t ch = f.dim(0), hw = f.dim(2) * f.dim(3);
  Tensor out = *Tensor::Empty({ch, t, f.dim(2), f.dim(3)});
  int64_t at = 0;
  for (const Tensor& p : parts) {
    for (int64_t c = 0; c < ch; ++c) {
      std::copy_n(p.data<float>() + c * p.dim(1) * hw, p.dim(1) * hw,
                  out.data<float>() + (c * t + at) * hw);
    }
    at += p.dim(1);
  }
  return out;
}

struct Case {
  WanVaeDecoder decoder;
  SafetensorsFile golden;
  const Tensor& G(const std::string& name) const { return golden.tensors.at(name); }
};

// The reference's directory `name` (vae: 8x space, 4x time; t2: 2x time) and its goldens.
absl::StatusOr<Case> LoadCase(const std::string& name) {
  const std::string dir = absl::StrCat(kDir, "/", name);
  absl::StatusOr<WanVaeConfig> config = ParseWanVaeConfig(ReadJson(dir + "/config.json"));
  if (!config.ok()) return config.status();
  absl::StatusOr<WeightStore> store =
      WeightStore::Open(dir + "/diffusion_pytorch_model.safetensors");
  if (!store.ok()) return store.status();
  absl::StatusOr<WanVaeDecoder> decoder = WanVaeDecoder::Load(*config, *store);
  if (!decoder.ok()) return decoder.status();
  absl::StatusOr<SafetensorsFile> golden = ReadSafetensors(
      absl::StrCat(kDir, "/wan_vae_golden", name == "vae" ? "" : "_" + name, ".safetensors"));
  if (!golden.ok()) return golden.status();
  return Case{*std::move(decoder), *std::move(golden)};
}

// Decodes `latents` in chunks of the given latent-frame counts on one stream.
Tensor DecodeChunks(const WanVaeDecoder& d, const Tensor& latents, const std::vector<int>& chunks,
                    bool clamp = false) {
  WanVaeStream s = *d.NewStream(latents.dim(2), latents.dim(3));
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int n : chunks) {
    Tensor chunk = Frames(latents, at, at + n);
    absl::StatusOr<Tensor> out = clamp ? d.Decode(s, chunk) : d.DecodeUnclamped(s, chunk);
    EXPECT_TRUE(out.ok()) << out.status();
    // The first latent frame of a video gives 1 frame, every later one temporal_factor().
    EXPECT_EQ(out->dim(1), d.frames_for_latents(at + n) - d.frames_for_latents(at));
    parts.push_back(*std::move(out));
    at += n;
  }
  EXPECT_EQ(at, latents.dim(1));
  EXPECT_EQ(s.frames_decoded, latents.dim(1));
  return Concat(parts);
}

TEST(WanVaeDecoderTest, MatchesTheReferenceDecodingAllAtOnce) {
  absl::StatusOr<Case> c = LoadCase("vae");
  ASSERT_TRUE(c.ok()) << c.status();
  const Tensor& latents = c->G("input.latents");  // (4, 3, 4, 6)
  Tensor raw = DecodeChunks(c->decoder, latents, {3});
  EXPECT_EQ(ShapeString(raw.shape()), "[3,9,32,48]");
  const float diff = MaxAbsDiff(raw, c->G("output.raw"));
  EXPECT_LE(diff, 1e-4f);
  std::cout << "max |C++ - reference| = " << diff << "\n";
  Tensor clamped = DecodeChunks(c->decoder, latents, {3}, /*clamp=*/true);
  EXPECT_LE(MaxAbsDiff(clamped, c->G("output.clamped")), 1e-4f);
  const float* p = clamped.data<float>();
  EXPECT_EQ(*std::max_element(p, p + clamped.numel()), 1.0f);  // the golden has pixels beyond ±1
  EXPECT_EQ(*std::min_element(p, p + clamped.numel()), -1.0f);
}

TEST(WanVaeDecoderTest, AnyChunkingEqualsDecodingAllAtOnce) {
  absl::StatusOr<Case> c = LoadCase("vae");
  ASSERT_TRUE(c.ok()) << c.status();
  const Tensor& latents = c->G("input.latents");
  const Tensor whole = DecodeChunks(c->decoder, latents, {3});
  for (const std::vector<int>& chunks : std::vector<std::vector<int>>{{1, 1, 1}, {2, 1}, {1, 2}}) {
    Tensor chunked = DecodeChunks(c->decoder, latents, chunks);
    EXPECT_LE(MaxAbsDiff(chunked, whole), 1e-5f) << "chunks of " << chunks[0] << ", " << chunks[1];
    EXPECT_LE(MaxAbsDiff(chunked, c->G("output.raw")), 1e-4f);
  }
}

// Every chunking of the case's latents decodes to its reference pixels (shape `shape`) within 1e-4.
void ExpectChunkingsMatch(const Case& c, const std::vector<std::vector<int>>& chunkings,
                          const std::string& shape) {
  for (const std::vector<int>& chunks : chunkings) {
    Tensor raw = DecodeChunks(c.decoder, c.G("input.latents"), chunks);
    EXPECT_EQ(ShapeString(raw.shape()), shape);
    EXPECT_LE(MaxAbsDiff(raw, c.G("output.raw")), 1e-4f) << chunks.size() << " chunks";
  }
}

TEST(WanVaeDecoderTest, OneTimeUpsamplerVariantMatchesTheReference) {
  absl::StatusOr<Case> c = LoadCase("t2");  // latents (6, 3, 4, 4)
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->decoder.config().temporal_factor(), 2);
  ExpectChunkingsMatch(*c, {{3}, {1, 1, 1}, {2, 1}}, "[3,5,32,32]");
}

// The released config's layout and statistics (2 res blocks, dim_mult [1, 2, 4, 4], z 16) at 1/24
// of the width (base_dim 4).
TEST(WanVaeDecoderTest, ReleasedLayoutMatchesTheReference) {
  absl::StatusOr<Case> c = LoadCase("released_layout");  // latents (16, 2, 3, 4)
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->decoder.config().num_res_blocks, 2);
  EXPECT_FLOAT_EQ(c->decoder.config().latents_std[0], 2.8184f);
  ExpectChunkingsMatch(*c, {{2}, {1, 1}}, "[3,5,24,32]");
}

TEST(WanVaeDecoderTest, FrameCountIsOnePlusFourPerLaterLatentFrame) {
  absl::StatusOr<Case> c = LoadCase("vae");
  ASSERT_TRUE(c.ok()) << c.status();
  for (int64_t n : {1, 2, 3, 21}) EXPECT_EQ(c->decoder.frames_for_latents(n), 1 + 4 * (n - 1));
  EXPECT_EQ(c->decoder.frames_for_latents(0), 0);
}

// A random-weight decoder of the small structure, for tests that need no reference.
WanVaeDecoder SmallRandomDecoder(uint32_t seed) {
  WanVaeConfig config = *ParseWanVaeConfig(ReadJson(absl::StrCat(kDir, "/vae/config.json")));
  WeightStore store = WeightStore::RandomForTesting(seed);
  absl::StatusOr<WanVaeDecoder> d = WanVaeDecoder::Load(config, store);
  EXPECT_TRUE(d.ok()) << d.status();
  return *std::move(d);
}

TEST(WanVaeDecoderTest, CacheSizeStaysConstantOverALongVideo) {
  WanVaeDecoder d = SmallRandomDecoder(3);
  WanVaeStream s = *d.NewStream(2, 3);
  const int64_t bytes = d.cache_bytes(s);
  // Closed form for this structure (base 8, dim_mult [1,2,2,2], 1 res block, z 4), per latent
  // pixel: 2 frames x f32 x sum over cached convs of channels x (resolution scale)^2. At 1x:
  // conv_in (4), mid 4 convs (16 each), block 0: 4 convs (16), time_conv (16); at 2x: block 1: 8 +
  // 3x16, time_conv 16; at 4x: block 2: 8 + 3x16; at 8x: block 3: 4 x 8, conv_out 8.
  const int64_t per_pixel =
      4 + 4 * 16 + 4 * 16 + 16 + 4 * (8 + 3 * 16 + 16) + 16 * (8 + 3 * 16) + 64 * (4 * 8 + 8);
  EXPECT_EQ(bytes, 2 * 4 * 6 * per_pixel);
  Tensor latent = *Tensor::Zeros({4, 1, 2, 3});
  for (int64_t i = 0; i < latent.numel(); ++i) latent.data<float>()[i] = std::sin(0.7f * i);
  for (int i = 0; i < 16; ++i) {
    absl::StatusOr<Tensor> out = d.Decode(s, latent);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->dim(1), i == 0 ? 1 : 4);
    const float* p = out->data<float>();
    EXPECT_TRUE(std::all_of(p, p + out->numel(), [](float v) { return std::isfinite(v); }));
    EXPECT_EQ(d.cache_bytes(s), bytes);
  }
  EXPECT_EQ(s.frames_decoded, 16);
}

TEST(WanVaeDecoderTest, RejectsLatentsThatDoNotFitTheStream) {
  WanVaeDecoder d = SmallRandomDecoder(4);
  WanVaeStream s = *d.NewStream(2, 3);
  for (const Shape& bad :
       {Shape{5, 1, 2, 3}, Shape{4, 0, 2, 3}, Shape{4, 1, 3, 3}, Shape{4, 2, 3}}) {
    absl::StatusOr<Tensor> out = d.Decode(s, *Tensor::Zeros(bad));
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << ShapeString(bad);
    EXPECT_THAT(out.status().message(), HasSubstr("expected (4, n >= 1, 2, 3)"));
  }
  EXPECT_EQ(s.frames_decoded, 0);
  EXPECT_FALSE(d.NewStream(0, 3).ok());
  WanVaeStream foreign;
  foreign.latent_height = 2;
  foreign.latent_width = 3;
  EXPECT_THAT(d.Decode(foreign, *Tensor::Zeros({4, 1, 2, 3})).status().message(),
              HasSubstr("not made by this decoder"));
}

TEST(WanVaeConfigTest, TheReleasedConfigAndDiffusersDefaults) {
  const nlohmann::json released = {{"_class_name", "AutoencoderKLWan"},
                                   {"_diffusers_version", "0.33.0.dev0"},
                                   {"attn_scales", nlohmann::json::array()},
                                   {"base_dim", 96},
                                   {"dim_mult", {1, 2, 4, 4}},
                                   {"dropout", 0.0},
                                   {"num_res_blocks", 2},
                                   {"temperal_downsample", {false, true, true}},
                                   {"z_dim", 16}};
  for (const nlohmann::json& j : {released, nlohmann::json::object()}) {
    absl::StatusOr<WanVaeConfig> c = ParseWanVaeConfig(j);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->base_dim, 96);
    EXPECT_EQ(c->decoder_base_dim, 96);
    EXPECT_EQ(c->z_dim, 16);
    EXPECT_EQ(c->num_res_blocks, 2);
    EXPECT_EQ(c->spatial_factor(), 8);
    EXPECT_EQ(c->temporal_factor(), 4);
    ASSERT_EQ(c->latents_std.size(), 16u);
    EXPECT_FLOAT_EQ(c->latents_mean[0], -0.7571f);
    EXPECT_FLOAT_EQ(c->latents_std[15], 1.916f);
  }
}

TEST(WanVaeConfigTest, RefusesBadFieldsByName) {
  const nlohmann::json base = ReadJson(absl::StrCat(kDir, "/vae/config.json"));
  ASSERT_TRUE(ParseWanVaeConfig(base).ok());
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"is_residual", true}}, "'is_residual' true is the Wan2.2 VAE"},
      {{{"patch_size", 2}}, "'patch_size' 2"},
      {{{"attn_scales", nlohmann::json::array({0.5})}}, "'attn_scales' must be []"},
      {{{"temperal_downsample", {false, true}}}, "'temperal_downsample' has 2 entries"},
      {{{"temperal_downsample", {0, 1, 1}}}, "array of booleans"},
      {{{"latents_std", {1.0, -1.0, 1.0, 1.0}}}, "'latents_std' values must be positive"},
      {{{"latents_mean", {0.0, 0.0}}}, "'latents_mean' has 2 values for z_dim 4"},
      {{{"z_dim", 16}}, "'latents_mean' has 4 values for z_dim 16"},
      {{{"dim_mult", nlohmann::json::array()}}, "'dim_mult' must be a non-empty array"},
      {{{"base_dim", "96"}}, "'base_dim' must be an integer"},
      {{{"num_res_blocks", -1}}, "'num_res_blocks' must be >= 0"},
      {{{"scale_factor_spatial", 16}}, "'scale_factor_spatial' 16 disagrees"},
      {{{"scale_factor_temporal", 8}}, "'scale_factor_temporal' 8 disagrees"},
      {{{"_class_name", "AutoencoderKL"}}, "AutoencoderKLWan (the Wan2.1 VAE) only"},
      {{{"clip_output", true}}, "unknown key 'clip_output'"},
  };
  for (const auto& [patch, message] : cases) {
    nlohmann::json j = base;
    j.update(patch);
    absl::StatusOr<WanVaeConfig> c = ParseWanVaeConfig(j);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << patch.dump();
    EXPECT_THAT(c.status().message(), HasSubstr(message)) << patch.dump();
  }
  EXPECT_FALSE(ParseWanVaeConfig(nlohmann::json::array()).ok());
}

TEST(WanVaeDecoderTest, MissingExtraOrMisshapedWeightsAreNamed) {
  const std::string dir = absl::StrCat(kDir, "/vae");
  const WanVaeConfig config = *ParseWanVaeConfig(ReadJson(dir + "/config.json"));
  absl::StatusOr<SafetensorsFile> file =
      ReadSafetensors(dir + "/diffusion_pytorch_model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  // The directory's encoder.* and quant_conv.* are there and ignored.
  EXPECT_TRUE(file->tensors.count("encoder.conv_in.weight"));
  EXPECT_TRUE(file->tensors.count("quant_conv.weight"));
  auto load = [&](std::map<std::string, Tensor> tensors) {
    WeightStore s = WeightStore::FromTensors(std::move(tensors), "test");
    return WanVaeDecoder::Load(config, s).status();
  };
  EXPECT_TRUE(load(file->tensors).ok());
  auto missing = file->tensors;
  missing.erase("decoder.up_blocks.0.upsamplers.0.time_conv.weight");
  EXPECT_THAT(load(missing).message(),
              HasSubstr("decoder.up_blocks.0.upsamplers.0.time_conv.weight"));
  auto extra = file->tensors;
  extra["decoder.up_blocks.3.upsamplers.0.resample.1.weight"] = *Tensor::Zeros({4, 8, 3, 3});
  EXPECT_THAT(load(extra).message(), HasSubstr("decoder.up_blocks.3.upsamplers.0.resample.1"));
  auto misshaped = file->tensors;
  misshaped["decoder.mid_block.attentions.0.norm.gamma"] = *Tensor::Zeros({16, 1, 1, 1});
  EXPECT_THAT(load(misshaped).message(), HasSubstr("decoder.mid_block.attentions.0.norm.gamma"));
}

}  // namespace
}  // namespace reel
