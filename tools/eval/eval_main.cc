// reel_eval_frames: the evaluator without the rest of the CLI (for training scripts):
//   reel_eval_frames VIDEO PROMPT [WxH]
// VIDEO is a video file, a PNG folder, or raw rgb24 with WxH. Prints the JSON of `reel eval`.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/eval/analyze.h"
#include "tools/eval/prompt.h"
#include "tools/eval/score.h"
#include "tools/eval/video_io.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: reel_eval_frames VIDEO PROMPT [WxH]\n");
    return 2;
  }
  int w = 0, h = 0;
  if (argc == 4 && std::sscanf(argv[3], "%dx%d", &w, &h) != 2) {
    std::fprintf(stderr, "reel_eval_frames: size must be WxH\n");
    return 2;
  }
  auto frames = argc == 4 ? reel::eval::ReadRawRgb(argv[1], w, h) : reel::eval::ReadVideo(argv[1]);
  if (!frames.ok()) {
    std::fprintf(stderr, "reel_eval_frames: %s\n", std::string(frames.status().message()).c_str());
    return 2;
  }
  auto analysis = reel::eval::AnalyzeVideo(*frames);
  if (!analysis.ok()) {
    std::fprintf(stderr, "reel_eval_frames: %s\n", std::string(analysis.status().message()).c_str());
    return 2;
  }
  const auto score = reel::eval::ScorePrompt(reel::eval::ParsePrompt(argv[2]), *analysis);
  std::printf("%s\n", reel::eval::ScoreJson(argv[2], frames->size(), *analysis, score).c_str());
  return score.accuracy == 1.0 ? 0 : 1;
}
