// The shipped default model, models/reel-tiny, through the whole C++ engine:
//  - the video equals the PyTorch pipeline's (tools/train/sample.py, same Philox noise) up to float
//    rounding, so the weights, the text encoder, the block-AR DiT and the streaming VAE decode
//    agree with the oracle on the real model and not only on random weights;
//  - the evaluator still reads the prompts' attributes in a few renders, so a regression in the
//    engine or in the weights turns CI red. The thresholds sit below what the committed weights
//    reach (see models/reel-tiny/README.md), to catch breakage rather than to grade quality;
//  - the VAE decoder keeps the shapes of known clips far past its first frames (long videos).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "opencv2/core.hpp"
#include "pipeline/generate/frames.h"
#include "pipeline/generate/renderer.h"
#include "pipeline/model/config.h"
#include "pipeline/model/vae_decoder.h"
#include "tools/eval/analyze.h"
#include "tools/eval/frame_collector.h"
#include "tools/eval/metrics.h"
#include "tools/eval/prompt.h"
#include "tools/eval/score.h"

namespace reel {
namespace {

namespace fs = std::filesystem;

class ReelTinyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = fs::path(REEL_SOURCE_DIR) / "models" / "reel-tiny";
    if (!fs::exists(model_ / "transformer.safetensors")) {
      GTEST_SKIP() << model_ << " has no weights in this checkout (tools/train makes them)";
    }
    absl::StatusOr<std::unique_ptr<Renderer>> r = LoadRenderer(model_.string(), {});
    ASSERT_TRUE(r.ok()) << r.status();
    renderer_ = *std::move(r);
  }

  eval::FrameCollector Render(const RenderRequest& request) {
    eval::FrameCollector sink;
    const absl::Status s = renderer_->Render(request, sink, nullptr, nullptr);
    EXPECT_TRUE(s.ok()) << s;
    return sink;
  }

  fs::path model_;
  std::unique_ptr<Renderer> renderer_;
};

TEST_F(ReelTinyTest, MatchesThePyTorchPipeline) {
  // Two blocks beyond the default length: the carried state and the streaming VAE caches are used.
  // The PyTorch pipeline computes every block: no feature cache on this side either.
  const RenderRequest request{.prompt = "a red circle moving right on a white background",
                              .frames = 24,
                              .steps = 6,
                              .seed = 7,
                              .cache = {.policy = "none"}};
  const eval::FrameCollector rendered = Render(request);
  std::vector<uint8_t> cpp;
  for (const cv::Mat& frame : rendered.frames()) {
    cpp.insert(cpp.end(), frame.data, frame.data + frame.total() * frame.elemSize());
  }
  ASSERT_EQ(cpp.size(), size_t{24} * 64 * 64 * 3);

  const fs::path out =
      fs::path(::testing::TempDir()) / ("reel_tiny_torch_" + std::to_string(getpid()));
  const std::string command = absl::StrCat(
      REEL_PYTHON, " ", REEL_SOURCE_DIR, "/tools/train/sample.py --model ", model_.string(),
      " --prompt '", request.prompt, "' --seed 7 --steps 6 --frames 24 --threads 1 --out ",
      out.string(), " > /dev/null");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream in(out / "video.rgb", std::ios::binary);
  const std::vector<uint8_t> torch((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  ASSERT_EQ(torch.size(), cpp.size());
  fs::remove_all(out);

  // Both sides compute in f32 from the same f16 weights and noise; summation order differs, so a
  // pixel may round the other way (1 level); 3 levels would mean a real divergence.
  int max_diff = 0;
  double sum_diff = 0;
  for (size_t i = 0; i < torch.size(); ++i) {
    const int d = std::abs(static_cast<int>(torch[i]) - static_cast<int>(cpp[i]));
    max_diff = std::max(max_diff, d);
    sum_diff += d;
  }
  std::printf("C++ vs PyTorch, %zu bytes: max |diff| %d levels, mean %.4f\n", torch.size(),
              max_diff, sum_diff / torch.size());
  EXPECT_LE(max_diff, 2);
  EXPECT_LE(sum_diff / torch.size(), 0.05);
}

TEST_F(ReelTinyTest, EvaluatorReadsThePrompts) {
  const std::vector<std::string> prompts = {
      "a red square moving right on a white background",
      "a blue circle moving up on a black background",
      "a yellow triangle standing still on a gray background",
  };
  int colors_ok = 0, objects_found = 0, checks_ok = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const eval::FrameCollector sink = Render({.prompt = prompts[i], .steps = 8, .seed = 11});
    absl::StatusOr<eval::VideoAnalysis> video = eval::AnalyzeVideo(sink.frames());
    ASSERT_TRUE(video.ok()) << video.status();
    const eval::PromptScore score = eval::ScorePrompt(eval::ParsePrompt(prompts[i]), *video);
    objects_found += video->objects.empty() ? 0 : 1;
    for (const eval::AttributeCheck& c : score.checks) {
      checks_ok += c.ok ? 1 : 0;
      if (c.attribute == "background") {
        EXPECT_TRUE(c.ok) << prompts[i] << ": background " << c.found;
      }
      if (c.attribute == "object0.color" && c.ok) ++colors_ok;
    }
    std::printf("%s\n", eval::ScoreJson(prompts[i], sink.frames().size(), *video, score).c_str());
  }
  EXPECT_EQ(objects_found, 3) << "every render shows an object";
  EXPECT_GE(colors_ok, 2) << "the object has the prompt's color in most renders";
  // The committed weights get 11 of the 12 checks (background, color, shape, motion × 3); two
  // below that leaves room for another CPU's rounding to flip a borderline shape or motion.
  EXPECT_GE(checks_ok, 9);
}

TEST_F(ReelTinyTest, CgTaylorSkipsBlocksAndKeepsTheVerdicts) {
  const std::vector<std::string> prompts = {
      "a green star moving left on a black background",
      "an orange diamond moving down on a white background",
  };
  int64_t skipped = 0, all = 0;
  int plain_ok = 0, cached_ok = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    // 50 steps, where caching pays (README, performance); threshold as the harness's 2x setting.
    RenderRequest request{.prompt = prompts[i], .steps = 50, .seed = 21 + i};
    request.cache.threshold = 0.015;
    request.cache.policy = "none";
    const eval::FrameCollector plain = Render(request);
    request.cache.policy = "cg-taylor";
    eval::FrameCollector cached;
    RenderProgress last;
    ASSERT_TRUE(renderer_
                    ->Render(
                        request, cached, [&](const RenderProgress& p) { last = p; }, nullptr)
                    .ok());
    skipped += last.block_forwards_skipped;
    all += last.block_forwards_computed + last.block_forwards_skipped;
    // Loose: the harness (README, performance) measures the real figure over the whole suite.
    const absl::StatusOr<double> psnr = eval::Psnr(plain.frames(), cached.frames());
    ASSERT_TRUE(psnr.ok()) << psnr.status();
    EXPECT_GT(*psnr, 22.0) << prompts[i];
    for (const eval::FrameCollector* sink :
         {&plain, static_cast<const eval::FrameCollector*>(&cached)}) {
      absl::StatusOr<eval::VideoAnalysis> video = eval::AnalyzeVideo(sink->frames());
      ASSERT_TRUE(video.ok()) << video.status();
      for (const eval::AttributeCheck& c :
           eval::ScorePrompt(eval::ParsePrompt(prompts[i]), *video).checks) {
        (sink == &plain ? plain_ok : cached_ok) += c.ok ? 1 : 0;
        if (c.attribute == "background") {
          EXPECT_TRUE(c.ok) << prompts[i];
        }
      }
    }
  }
  EXPECT_GT(skipped, all / 3) << skipped << " of " << all << " block-forwards skipped";
  EXPECT_GE(cached_ok, plain_ok - 1) << "the evaluator's verdicts with and without the cache";
}

TEST_F(ReelTinyTest, VaeDecoderKeepsShapesOverLongClips) {
  // Ground-truth clips 8x the default length, encoded by the PyTorch encoder and decoded here one
  // latent frame at a time, as a block-autoregressive render decodes them. The DiT learns the
  // latents of long clips; a decoder that cannot turn them back into the same shapes late in a clip
  // caps the suite's long-video check whatever the DiT does. The shipped decoder keeps 9 of these
  // 12 (moving stars and diamonds lose their points now and then); the one before, trained on clips
  // of at most 16 frames, kept 4: from frame 16 on it rounded a still square into a circle.
  constexpr int kClips = 12, kFrames = 128, kLatentFrames = kFrames / 4;
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("reel_tiny_long_" + std::to_string(getpid()));
  const std::string command =
      absl::StrCat(REEL_PYTHON, " ", REEL_SOURCE_DIR, "/tools/train/gen_eval_clips.py --out ",
                   dir.string(), " --count ", kClips, " --frames ", kFrames,
                   " --two-prob 0 --seed 5 --latents ", model_.string());
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  absl::StatusOr<ModelConfig> config = LoadModelConfig(model_.string());
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<VaeConfig> vc = ParseVaeConfig(config->vae);
  ASSERT_TRUE(vc.ok()) << vc.status();
  absl::StatusOr<WeightStore> weights = WeightStore::Open((model_ / "vae.safetensors").string());
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<VaeDecoder> vae = VaeDecoder::Load(*vc, *weights);
  ASSERT_TRUE(vae.ok()) << vae.status();

  std::ifstream labels(dir / "labels.tsv");
  std::string line;
  int consistent = 0, clips = 0;
  while (std::getline(labels, line)) {
    const std::vector<std::string> cols = absl::StrSplit(line, '\t');
    ASSERT_EQ(cols.size(), 5u) << line;
    const int64_t z = vc->latent_channels, h = 16, w = 16;
    std::vector<float> latents(static_cast<size_t>(z * kLatentFrames * h * w));
    std::ifstream in(dir / ("clip_" + cols[0] + ".latents"), std::ios::binary);
    in.read(reinterpret_cast<char*>(latents.data()),
            static_cast<std::streamsize>(latents.size() * sizeof(float)));
    ASSERT_TRUE(in.good()) << "clip " << cols[0] << " has too few latents";
    absl::StatusOr<Tensor> all = Tensor::FromVector({z, kLatentFrames, h, w}, latents);
    ASSERT_TRUE(all.ok()) << all.status();
    absl::StatusOr<VaeStream> stream = vae->NewStream(h, w);
    ASSERT_TRUE(stream.ok()) << stream.status();
    eval::FrameCollector sink;
    for (int64_t f = 0; f < kLatentFrames; ++f) {
      absl::StatusOr<Tensor> pixels = vae->Decode(*stream, *all->Slice(1, f, f + 1)->Contiguous());
      ASSERT_TRUE(pixels.ok()) << pixels.status();
      absl::StatusOr<FrameBlock> block = ToFrameBlock(*pixels, 4 * f, pixels->dim(1));
      ASSERT_TRUE(block.ok()) << block.status();
      ASSERT_TRUE(sink.Write(*block).ok());
    }
    absl::StatusOr<eval::VideoAnalysis> video = eval::AnalyzeVideo(sink.frames());
    ASSERT_TRUE(video.ok()) << video.status();
    const eval::PromptScore score = eval::ScorePrompt(eval::ParsePrompt(cols[3]), *video);
    // The suite's long-video criterion: the color is right and the shape the same in >= 90% of
    // the frames.
    const bool ok = score.keeps_color_and_shape;
    consistent += ok ? 1 : 0;
    ++clips;
    std::printf("%-3s consistency %.2f  %s\n", ok ? "ok" : "NO", score.temporal_consistency,
                cols[3].c_str());
  }
  fs::remove_all(dir);
  ASSERT_EQ(clips, kClips);
  EXPECT_GE(consistent, 8);
}

}  // namespace
}  // namespace reel
