// reel_eval against ground truth: clips rendered by the procedural data generator
// (tools/train/reel_train/data.py, run through /usr/bin/python3) must be read back with >= 98%
// correct attribute labels; PSNR/SSIM against closed forms.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "opencv2/imgproc.hpp"
#include "tools/eval/analyze.h"
#include "tools/eval/metrics.h"
#include "tools/eval/prompt.h"
#include "tools/eval/score.h"
#include "tools/eval/video_io.h"

namespace reel::eval {
namespace {

struct TruthObject {
  std::string color, shape, motion;
};
struct TruthClip {
  int index = 0, frames = 0;
  std::string background, caption;
  std::vector<TruthObject> objects;
};

class GroundTruth : public ::testing::Test {
 protected:
  // Generates `count` clips once per (split, frames) into a temp dir and parses labels.tsv.
  static std::vector<TruthClip> Generate(const std::string& split, int count, int frames, int seed,
                                         std::string* dir) {
    *dir = (std::filesystem::temp_directory_path() /
            absl::StrCat("reel_eval_test_", split, "_", frames, "_", ::getpid()))
               .string();
    const std::string cmd =
        absl::StrCat(REEL_PYTHON, " tools/train/gen_eval_clips.py --out ", *dir, " --count ", count,
                     " --seed ", seed, " --frames ", frames, " --split ", split);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::vector<TruthClip> clips;
    std::ifstream in(*dir + "/labels.tsv");
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, '\t');
      if (f.size() != 5) continue;
      TruthClip c;
      c.index = std::stoi(f[0]);
      c.frames = std::stoi(f[1]);
      c.background = f[2];
      c.caption = f[3];
      for (absl::string_view o : absl::StrSplit(f[4], ';')) {
        std::vector<std::string> a = absl::StrSplit(o, ',');
        if (a.size() == 3) c.objects.push_back({a[0], a[1], a[2]});
      }
      clips.push_back(std::move(c));
    }
    return clips;
  }

  // Returns the fraction of correct attribute labels; prints every miss.
  static double Accuracy(const std::vector<TruthClip>& clips, const std::string& dir,
                         std::map<std::string, int>* misses) {
    int total = 0, ok = 0;
    for (const TruthClip& c : clips) {
      auto frames = ReadRawRgb(absl::StrCat(dir, "/clip_", c.index, ".rgb"), 64, 64);
      EXPECT_TRUE(frames.ok()) << frames.status();
      if (!frames.ok()) continue;
      EXPECT_EQ(static_cast<int>(frames->size()), c.frames);
      auto a = AnalyzeVideo(*frames);
      EXPECT_TRUE(a.ok()) << a.status();
      if (!a.ok()) continue;
      auto check = [&](const std::string& what, const std::string& want, const std::string& got) {
        ++total;
        if (want == got) {
          ++ok;
        } else {
          ++(*misses)[what];
          std::printf("miss clip %d (%s): %s want %s got %s\n", c.index, c.caption.c_str(),
                      what.c_str(), want.c_str(), got.c_str());
        }
      };
      check("background", c.background, a->background);
      for (const TruthObject& t : c.objects) {
        const DetectedObject* d = nullptr;
        for (const auto& o : a->objects) {
          if (o.color == t.color) d = &o;
        }
        check("color", t.color, d ? d->color : "");
        check("shape", t.shape, d ? d->shape : "");
        check("motion", t.motion, d ? d->motion : "");
      }
      // No spurious objects: only the drawn colors are reported.
      check("object_count", std::to_string(c.objects.size()), std::to_string(a->objects.size()));
    }
    std::printf("%d / %d attribute labels correct\n", ok, total);
    return total ? static_cast<double>(ok) / total : 0.0;
  }
};

TEST_F(GroundTruth, TrainSplitAttributesAtLeast98Percent) {
  std::string dir;
  const auto clips = Generate("train", 300, 16, 7, &dir);
  ASSERT_EQ(clips.size(), 300u);
  std::map<std::string, int> misses;
  const double acc = Accuracy(clips, dir, &misses);
  EXPECT_GE(acc, 0.98);
  std::filesystem::remove_all(dir);
}

TEST_F(GroundTruth, HeldOutAndLongClips) {
  std::string dir;
  const auto held = Generate("heldout", 60, 16, 11, &dir);
  ASSERT_EQ(held.size(), 60u);
  std::map<std::string, int> misses;
  EXPECT_GE(Accuracy(held, dir, &misses), 0.98);
  std::filesystem::remove_all(dir);
  // 64-frame clips: objects bounce later, the caption still describes the first 16 frames.
  const auto longc = Generate("train", 40, 64, 13, &dir);
  ASSERT_EQ(longc.size(), 40u);
  EXPECT_GE(Accuracy(longc, dir, &misses), 0.98);
  std::filesystem::remove_all(dir);
}

TEST_F(GroundTruth, CaptionsParseToTheirLabels) {
  std::string dir;
  const auto clips = Generate("train", 200, 2, 17, &dir);
  ASSERT_EQ(clips.size(), 200u);
  for (const TruthClip& c : clips) {
    const PromptSpec p = ParsePrompt(c.caption);
    ASSERT_EQ(p.objects.size(), c.objects.size()) << c.caption;
    for (size_t i = 0; i < p.objects.size(); ++i) {
      EXPECT_EQ(p.objects[i].color, c.objects[i].color) << c.caption;
      EXPECT_EQ(p.objects[i].shape, c.objects[i].shape) << c.caption;
      EXPECT_EQ(p.objects[i].motion, c.objects[i].motion) << c.caption;
    }
    // The background is optional in captions; when named it must be the drawn one.
    if (!p.background.empty()) {
      EXPECT_EQ(p.background, c.background) << c.caption;
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(Prompt, GrammarAndSynonyms) {
  PromptSpec p = ParsePrompt("A Red circle moving right");
  ASSERT_EQ(p.objects.size(), 1u);
  EXPECT_EQ(p.objects[0].color, "red");
  EXPECT_EQ(p.objects[0].shape, "circle");
  EXPECT_EQ(p.objects[0].motion, "right");
  EXPECT_EQ(p.background, "");
  p = ParsePrompt("a violet ball not moving and a cyan box going to the left, on grey");
  ASSERT_EQ(p.objects.size(), 2u);
  EXPECT_EQ(p.objects[0].color, "purple");
  EXPECT_EQ(p.objects[0].motion, "still");
  EXPECT_EQ(p.objects[1].shape, "square");
  EXPECT_EQ(p.objects[1].motion, "left");
  EXPECT_EQ(p.background, "gray");
}

// A synthetic scored video: the analysis of a clip scored against a wrong prompt must fail checks.
TEST(Score, WrongPromptLosesPoints) {
  VideoAnalysis v;
  v.background = "black";
  DetectedObject o;
  o.color = "red";
  o.shape = "circle";
  o.motion = "right";
  o.presence = 1;
  o.shape_consistency = 1;
  v.objects.push_back(o);
  const PromptScore right = ScorePrompt(ParsePrompt("a red circle moving right on black"), v);
  EXPECT_DOUBLE_EQ(right.accuracy, 1.0);
  EXPECT_TRUE(right.keeps_color_and_shape);
  // The long-video criterion: any color miss, or a shape kept in < 90% of frames, fails it.
  EXPECT_FALSE(ScorePrompt(ParsePrompt("a blue circle moving right"), v).keeps_color_and_shape);
  v.objects[0].shape_consistency = 0.89;
  EXPECT_FALSE(ScorePrompt(ParsePrompt("a red circle moving right"), v).keeps_color_and_shape);
  v.objects[0].shape_consistency = 1;
  const PromptScore s = ScorePrompt(ParsePrompt("a blue square moving left on white"), v);
  EXPECT_DOUBLE_EQ(s.accuracy, 0.0);
  EXPECT_EQ(s.checks.size(), 4u);
}

// The star rule needs the five notches of a star, not just a non-convex outline: melted or split
// objects in long renders are non-convex (solidity < 0.8) and were read as stars in every frame.
TEST(ClassifyShape, StarsNeedNotchesNotJustConcavity) {
  for (double r : {5.0, 7.0, 10.0, 16.0}) {  // data.py's size range; outer 1.4 r, inner 0.6 r
    cv::Mat mask = cv::Mat::zeros(64, 64, CV_8UC1);
    std::vector<cv::Point> star;
    for (int k = 0; k < 10; ++k) {
      const double a = -std::numbers::pi / 2 + k * std::numbers::pi / 5,
                   rad = (k % 2 ? 0.6 : 1.4) * r;
      star.emplace_back(cvRound(32 + rad * std::cos(a)), cvRound(32 + rad * std::sin(a)));
    }
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{star}, 255);
    EXPECT_EQ(ClassifyShape(mask), "star") << "r = " << r;
  }
  // A crescent (a disc with an overlapping disc cut out) and an L: concave, one notch each.
  cv::Mat crescent = cv::Mat::zeros(64, 64, CV_8UC1);
  cv::circle(crescent, {32, 32}, 14, 255, cv::FILLED);
  cv::circle(crescent, {40, 32}, 12, 0, cv::FILLED);
  EXPECT_NE(ClassifyShape(crescent), "star");
  cv::Mat ell = cv::Mat::zeros(64, 64, CV_8UC1);
  cv::rectangle(ell, cv::Rect(16, 12, 8, 36), 255, cv::FILLED);
  cv::rectangle(ell, cv::Rect(16, 40, 32, 8), 255, cv::FILLED);
  EXPECT_NE(ClassifyShape(ell), "star");
}

std::vector<cv::Mat> Constant(int frames, uint8_t value) {
  return std::vector<cv::Mat>(frames, cv::Mat(16, 16, CV_8UC3, cv::Scalar(value, value, value)));
}

TEST(Analyze, BadFramesAreErrorsNotCrashes) {
  EXPECT_FALSE(AnalyzeVideo(Constant(1, 100)).ok()) << "one frame has no motion";
  EXPECT_FALSE(AnalyzeVideo(std::vector<cv::Mat>(3, cv::Mat())).ok()) << "empty frames";
  EXPECT_FALSE(AnalyzeVideo(std::vector<cv::Mat>(3, cv::Mat(4, 4, CV_8UC3))).ok()) << "tiny frames";
  std::vector<cv::Mat> mixed = Constant(2, 100);
  mixed.push_back(cv::Mat(16, 16, CV_8UC1, cv::Scalar(0)));
  EXPECT_FALSE(AnalyzeVideo(mixed).ok()) << "a grey frame among RGB ones";
  EXPECT_TRUE(AnalyzeVideo(Constant(3, 100)).ok());
}

TEST(VideoIo, PngFramesReadBackBitForBit) {
  std::vector<cv::Mat> frames;
  for (int i = 0; i < 3; ++i) {
    cv::Mat f(8, 12, CV_8UC3);
    cv::randu(f, 0, 256);
    frames.push_back(f);
  }
  const std::string dir = absl::StrCat(::testing::TempDir(), "/png_frames_", getpid());
  ASSERT_TRUE(WritePngFrames(frames, dir).ok());
  absl::StatusOr<std::vector<cv::Mat>> back = ReadVideo(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i)
    EXPECT_EQ(cv::norm(frames[i], (*back)[i], cv::NORM_INF), 0);
  // A file where the folder should be is an error, not a crash.
  EXPECT_FALSE(WritePngFrames(frames, dir + "/00000.png/sub").ok());
  EXPECT_FALSE(WritePngFrames({cv::Mat(4, 4, CV_8UC1)}, dir).ok());
  std::filesystem::remove_all(dir);
}

TEST(Metrics, PsnrClosedForm) {
  auto a = Constant(3, 100), b = Constant(3, 110);
  auto p = Psnr(a, b);
  ASSERT_TRUE(p.ok());
  EXPECT_NEAR(*p, 20.0 * std::log10(255.0 / 10.0), 1e-9);
  EXPECT_EQ(*Psnr(a, a), std::numeric_limits<double>::infinity());
  EXPECT_FALSE(Psnr(a, Constant(2, 100)).ok());
}

TEST(Metrics, SsimIdenticalIsOneAndNoiseLowersIt) {
  std::vector<cv::Mat> a, b;
  cv::RNG rng(3);
  for (int i = 0; i < 2; ++i) {
    cv::Mat f(32, 32, CV_8UC3), n(32, 32, CV_8UC3);
    rng.fill(f, cv::RNG::UNIFORM, 0, 256);
    rng.fill(n, cv::RNG::UNIFORM, 0, 40);
    a.push_back(f);
    b.push_back(f + n);
  }
  EXPECT_NEAR(*Ssim(a, a), 1.0, 1e-12);
  const double s = *Ssim(a, b);
  EXPECT_LT(s, 0.99);
  EXPECT_GT(s, 0.0);
  // A constant shift changes only the luminance term: l = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 +
  // C1).
  const double c1 = (0.01 * 255) * (0.01 * 255);
  const double expect = (2.0 * 100 * 110 + c1) / (100.0 * 100 + 110.0 * 110 + c1);
  EXPECT_NEAR(*Ssim(Constant(1, 100), Constant(1, 110)), expect, 1e-9);
}

}  // namespace
}  // namespace reel::eval
