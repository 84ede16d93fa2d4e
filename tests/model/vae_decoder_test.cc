// The C++ VAE decoder against the PyTorch reference (tools/train/reel_train/vae.py, run live in
// float64 by tools/train/make_cpp_golden.py on random seeded weights): full decode, streaming
// decode in chunks, constant cache memory, and the config/weight/shape checks. Bound: max abs error
// <= 1e-4 (f32).
#include "pipeline/model/vae_decoder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/safetensors.h"
#include "tests/model/vae_text_golden.h"

namespace reel {
namespace {

constexpr double kTolerance = 1e-4;

double MaxAbsError(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return INFINITY;
  const std::vector<float> a = *got.ToVector(), b = *want.ToVector();
  double err = 0;
  for (size_t i = 0; i < a.size(); ++i) err = std::max(err, std::abs(double(a[i]) - double(b[i])));
  return err;
}

// Decodes `latents` with a fresh stream, `chunk` latent frames per call, joined along time.
absl::StatusOr<Tensor> DecodeInChunks(const VaeDecoder& vae, const Tensor& latents, int64_t chunk,
                                      bool clamp = true) {
  absl::StatusOr<VaeStream> stream = vae.NewStream(latents.dim(2), latents.dim(3));
  if (!stream.ok()) return stream.status();
  std::vector<Tensor> parts;
  const int64_t before = vae.cache_bytes(*stream);
  for (int64_t t = 0; t < latents.dim(1); t += chunk) {
    absl::StatusOr<Tensor> part = latents.Slice(1, t, std::min(t + chunk, latents.dim(1)));
    if (!part.ok()) return part.status();
    absl::StatusOr<Tensor> px =
        clamp ? vae.Decode(*stream, *part) : vae.DecodeUnclamped(*stream, *part);
    if (!px.ok()) return px.status();
    parts.push_back(*std::move(px));
    EXPECT_EQ(vae.cache_bytes(*stream), before) << "cache memory grew";
  }
  EXPECT_EQ(stream->frames_decoded, latents.dim(1));
  return ops::Concat(parts, 1);
}

class VaeDecoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new std::string(golden::EnsureVaeTextGolden()); }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override {
    ASSERT_FALSE(dir_->empty()) << "no goldens";
    absl::StatusOr<SafetensorsFile> g = ReadSafetensors(*dir_ + "/vae_golden.safetensors");
    ASSERT_TRUE(g.ok()) << g.status();
    golden_ = *std::move(g);
    config_json_ = golden::ReadJsonFile(*dir_ + "/vae.json");
    absl::StatusOr<VaeConfig> config = ParseVaeConfig(config_json_);
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    absl::StatusOr<WeightStore> w = WeightStore::Open(*dir_ + "/vae.safetensors");
    ASSERT_TRUE(w.ok()) << w.status();
    absl::StatusOr<VaeDecoder> vae = VaeDecoder::Load(config_, *w);
    ASSERT_TRUE(vae.ok()) << vae.status();
    vae_ = std::make_unique<VaeDecoder>(*std::move(vae));
  }

  const Tensor& G(const std::string& name) { return golden_.tensors.at(name); }
  void Report(const char* what, double err) {
    RecordProperty(what, absl::StrCat(err));
    std::printf("  %-34s max abs err %.3g\n", what, err);
  }

  static std::string* dir_;
  SafetensorsFile golden_;
  nlohmann::json config_json_;
  VaeConfig config_;
  std::unique_ptr<VaeDecoder> vae_;
};
std::string* VaeDecoderTest::dir_ = nullptr;

TEST_F(VaeDecoderTest, FullDecodeMatchesReference) {
  const Tensor& latents = G("latents_n");
  absl::StatusOr<Tensor> raw = DecodeInChunks(*vae_, latents, latents.dim(1), /*clamp=*/false);
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_EQ(raw->shape(), Shape({3, 4 * latents.dim(1), 4 * latents.dim(2), 4 * latents.dim(3)}));
  const double raw_err = MaxAbsError(*raw, G("pixels_raw"));
  Report("full decode (unclamped)", raw_err);
  EXPECT_LE(raw_err, kTolerance);
  absl::StatusOr<Tensor> px = DecodeInChunks(*vae_, latents, latents.dim(1));
  ASSERT_TRUE(px.ok()) << px.status();
  const double err = MaxAbsError(*px, G("pixels"));
  Report("full decode (clamped)", err);
  EXPECT_LE(err, kTolerance);
  const std::vector<float> v = *px->ToVector();
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 1.0f);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), -1.0f);
}

TEST_F(VaeDecoderTest, StreamingDecodeMatchesFullDecode) {
  const Tensor& latents = G("latents_n");
  absl::StatusOr<Tensor> full = DecodeInChunks(*vae_, latents, latents.dim(1), false);
  ASSERT_TRUE(full.ok()) << full.status();
  for (int64_t chunk : {1, 2}) {
    absl::StatusOr<Tensor> streamed = DecodeInChunks(*vae_, latents, chunk, false);
    ASSERT_TRUE(streamed.ok()) << streamed.status();
    const std::string what = absl::StrCat("chunks of ", chunk, " vs full (C++)");
    const double self_err = MaxAbsError(*streamed, *full);
    Report(what.c_str(), self_err);
    EXPECT_LE(self_err, 1e-5);
    const std::string what_ref = absl::StrCat("chunks of ", chunk, " vs reference");
    const double ref_err = MaxAbsError(*streamed, G("pixels_raw"));
    Report(what_ref.c_str(), ref_err);
    EXPECT_LE(ref_err, kTolerance);
  }
}

TEST_F(VaeDecoderTest, CacheMemoryIsTheDocumentedTable) {
  // VAE.md: 2 frames each of z at H/4 (conv_in), 5x c2 at H/4, 3x c1 at H/2, 3x c0 at H (f32).
  const int64_t h = 5, w = 7, z = config_.latent_channels;
  const int64_t c0 = config_.channels[0], c1 = config_.channels[1], c2 = config_.channels[2];
  absl::StatusOr<VaeStream> s = vae_->NewStream(h, w);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(vae_->cache_bytes(*s),
            4 * 2 * (z * h * w + 5 * c2 * h * w + 3 * c1 * 4 * h * w + 3 * c0 * 16 * h * w));
}

TEST_F(VaeDecoderTest, RejectsLatentsOfAnotherShape) {
  absl::StatusOr<VaeStream> s = vae_->NewStream(4, 6);
  ASSERT_TRUE(s.ok());
  for (const Shape& shape :
       {Shape{config_.latent_channels, 1, 4, 5}, Shape{config_.latent_channels + 1, 1, 4, 6},
        Shape{config_.latent_channels, 0, 4, 6}, Shape{config_.latent_channels, 4, 6}}) {
    absl::StatusOr<Tensor> bad = vae_->Decode(*s, *Tensor::Zeros(shape));
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << ShapeString(shape);
  }
  EXPECT_FALSE(vae_->NewStream(0, 6).ok());
}

TEST_F(VaeDecoderTest, ConfigIsStrict) {
  nlohmann::json j = config_json_;
  j["extra"] = 1;
  EXPECT_FALSE(ParseVaeConfig(j).ok());
  j = config_json_;
  j["latents_std"][0] = 0.0;
  EXPECT_FALSE(ParseVaeConfig(j).ok());
  j = config_json_;
  j["latents_mean"].erase(0);
  EXPECT_FALSE(ParseVaeConfig(j).ok());
  j = config_json_;
  j["channels"] = {16, 32};
  EXPECT_FALSE(ParseVaeConfig(j).ok());
  j = config_json_;
  j["type"] = "wan-vae";
  EXPECT_FALSE(ParseVaeConfig(j).ok());
  j = config_json_;
  j.erase("latents_mean");
  EXPECT_FALSE(ParseVaeConfig(j).ok());
}

TEST_F(VaeDecoderTest, LoadReportsMissingAndUnexpectedWeights) {
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(*dir_ + "/vae.safetensors");
  ASSERT_TRUE(file.ok());
  std::map<std::string, Tensor> tensors = file->tensors;
  ASSERT_EQ(tensors.erase("decoder.res2.norm1.gamma"), 1u);
  tensors["decoder.res9.norm1.gamma"] = *Tensor::Zeros({4});
  WeightStore store = WeightStore::FromTensors(tensors, "test");
  absl::StatusOr<VaeDecoder> vae = VaeDecoder::Load(config_, store);
  ASSERT_FALSE(vae.ok());
  EXPECT_NE(vae.status().message().find("decoder.res2.norm1.gamma"), std::string::npos)
      << vae.status();
  EXPECT_NE(vae.status().message().find("decoder.res9.norm1.gamma"), std::string::npos)
      << vae.status();
  EXPECT_EQ(vae.status().message().find("'encoder."), std::string::npos)
      << "encoder weights must be ignored: " << vae.status();
}

// reel-tiny sizes (64x64 video, 16x16 latents): streaming equals full decode there too, and the
// time per latent frame is printed (the renderer decodes block by block on 2 cores).
TEST(VaeDecoderRandomTest, ReelTinySizeStreamsAndIsFast) {
  VaeConfig config;
  config.latent_channels = 8;
  config.channels = {16, 32, 64};
  config.latents_mean.assign(8, 0.1f);
  config.latents_std.assign(8, 1.5f);
  WeightStore store = WeightStore::RandomForTesting(7);
  absl::StatusOr<VaeDecoder> vae = VaeDecoder::Load(config, store);
  ASSERT_TRUE(vae.ok()) << vae.status();
  std::vector<float> values(8 * 4 * 16 * 16);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.37f * static_cast<float>(i));
  const Tensor latents = *Tensor::FromVector({8, 4, 16, 16}, values);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Tensor> full = DecodeInChunks(*vae, latents, 4, false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->shape(), Shape({3, 16, 64, 64}));
  std::printf("  64x64, 4 latent frames (16 pixel frames): %.3f s\n", seconds);
  absl::StatusOr<Tensor> streamed = DecodeInChunks(*vae, latents, 1, false);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_LE(MaxAbsError(*streamed, *full), 1e-5);
  const std::vector<float> v = *full->ToVector();
  for (float x : v) ASSERT_TRUE(std::isfinite(x));
}

}  // namespace
}  // namespace reel
