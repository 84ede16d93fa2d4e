// `reel eval`: reads a generated video back into the attributes of its prompt (tools/eval): color,
// shape, motion, background, temporal consistency; or PSNR/SSIM between two videos.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tools/eval/analyze.h"
#include "tools/eval/metrics.h"
#include "tools/eval/prompt.h"
#include "tools/eval/score.h"
#include "tools/eval/video_io.h"
#include "tools/reel/cli_args.h"
#include "tools/reel/cli_eval_suite.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {

constexpr char kUsage[] =
    "usage: reel eval --video PATH --prompt TEXT [--raw-size 64x64]\n"
    "       reel eval --video PATH --reference PATH [--raw-size 64x64]\n"
    "PATH: a video file (any FFmpeg format), a folder of PNG frames, or raw rgb24 frames with\n"
    "--raw-size WxH. Prints one JSON object; exit 0 when every prompt attribute matched, 1 if not.\n";

absl::StatusOr<std::vector<cv::Mat>> Load(const std::string& path, const std::string& raw_size) {
  if (raw_size.empty()) return eval::ReadVideo(path);
  std::vector<std::string> wh = absl::StrSplit(raw_size, 'x');
  int w = 0, h = 0;
  if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &w) || !absl::SimpleAtoi(wh[1], &h)) {
    return absl::InvalidArgumentError("--raw-size: expected WxH, e.g. 64x64");
  }
  return eval::ReadRawRgb(path, w, h);
}

int RunEval(const std::vector<std::string_view>& argv) {
  for (std::string_view a : argv) {
    if (a == "--suite") return RunEvalSuite(argv);
  }
  auto args = Args::Parse(argv, {"help"});
  if (!args.ok()) {
    std::fprintf(stderr, "reel eval: %s\n%s", std::string(args.status().message()).c_str(), kUsage);
    return 2;
  }
  if (args->Flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string video_path = args->String("video", "");
  const std::string prompt = args->String("prompt", "");
  const std::string reference = args->String("reference", "");
  const std::string raw_size = args->String("raw-size", "");
  if (absl::Status s = args->CheckAllUsed(); !s.ok() || video_path.empty() ||
                                             (prompt.empty() == reference.empty())) {
    std::fprintf(stderr, "reel eval: %s\n%s", s.ok() ? "need --video and one of --prompt/--reference"
                                                    : std::string(s.message()).c_str(),
                 kUsage);
    return 2;
  }
  auto frames = Load(video_path, raw_size);
  if (!frames.ok()) {
    std::fprintf(stderr, "reel eval: %s\n", std::string(frames.status().message()).c_str());
    return 2;
  }
  if (!reference.empty()) {
    auto ref = Load(reference, raw_size);
    if (!ref.ok()) {
      std::fprintf(stderr, "reel eval: %s\n", std::string(ref.status().message()).c_str());
      return 2;
    }
    auto psnr = eval::Psnr(*frames, *ref);
    auto ssim = eval::Ssim(*frames, *ref);
    if (!psnr.ok() || !ssim.ok()) {
      std::fprintf(stderr, "reel eval: %s\n",
                   std::string((psnr.ok() ? ssim.status() : psnr.status()).message()).c_str());
      return 2;
    }
    std::printf("{\"frames\": %zu, \"psnr_db\": %.4f, \"ssim\": %.6f}\n", frames->size(), *psnr, *ssim);
    return 0;
  }
  auto analysis = eval::AnalyzeVideo(*frames);
  if (!analysis.ok()) {
    std::fprintf(stderr, "reel eval: %s\n", std::string(analysis.status().message()).c_str());
    return 2;
  }
  const eval::PromptScore score = eval::ScorePrompt(eval::ParsePrompt(prompt), *analysis);
  std::printf("%s\n", eval::ScoreJson(prompt, frames->size(), *analysis, score).c_str());
  return score.accuracy == 1.0 ? 0 : 1;
}

}  // namespace

REEL_COMMAND("eval", "check a video against its prompt (color/shape/motion) or PSNR/SSIM", RunEval);

}  // namespace reel::cli
