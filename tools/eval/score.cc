#include "tools/eval/score.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace reel::eval {

PromptScore ScorePrompt(const PromptSpec& prompt, const VideoAnalysis& video) {
  PromptScore score;
  if (!prompt.background.empty()) {
    score.checks.push_back(
        {"background", prompt.background, video.background, prompt.background == video.background});
  }
  std::vector<bool> used(video.objects.size(), false);
  double consistency_sum = 0;
  int matched = 0;
  for (size_t i = 0; i < prompt.objects.size(); ++i) {
    const ObjectSpec& want = prompt.objects[i];
    int pick = -1;
    for (size_t j = 0; j < video.objects.size() && pick < 0; ++j) {
      if (!used[j] && (want.color.empty() || video.objects[j].color == want.color)) pick = j;
    }
    const DetectedObject* got = pick >= 0 ? &video.objects[pick] : nullptr;
    if (got != nullptr) {
      used[pick] = true;
      consistency_sum += got->presence * got->shape_consistency;
      ++matched;
    }
    const std::string prefix = absl::StrCat("object", i, ".");
    auto add = [&](const std::string& name, const std::string& expected, const std::string& found) {
      if (!expected.empty())
        score.checks.push_back({prefix + name, expected, found, expected == found});
    };
    add("color", want.color, got ? got->color : "");
    add("shape", want.shape, got ? got->shape : "");
    add("motion", want.motion, got ? got->motion : "");
  }
  int ok = 0;
  for (const auto& c : score.checks) ok += c.ok ? 1 : 0;
  score.accuracy = score.checks.empty() ? 1.0 : static_cast<double>(ok) / score.checks.size();
  score.temporal_consistency = matched ? consistency_sum / matched : 0.0;
  score.keeps_color_and_shape = !video.objects.empty() && score.temporal_consistency >= 0.9;
  for (const auto& c : score.checks) {
    if (c.attribute.ends_with(".color")) score.keeps_color_and_shape &= c.ok;
  }
  return score;
}

namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

std::string ScoreJson(const std::string& prompt, size_t frames, const VideoAnalysis& video,
                      const PromptScore& score) {
  std::string out = absl::StrFormat(
      "{\"prompt\": %s, \"frames\": %d, \"accuracy\": %.4f, \"temporal_consistency\": %.4f, "
      "\"keeps_color_and_shape\": %s, \"background\": %s, \"objects\": [",
      Quote(prompt), frames, score.accuracy, score.temporal_consistency,
      score.keeps_color_and_shape ? "true" : "false", Quote(video.background));
  for (size_t i = 0; i < video.objects.size(); ++i) {
    const DetectedObject& o = video.objects[i];
    absl::StrAppendFormat(&out,
                          "%s{\"color\": %s, \"shape\": %s, \"motion\": %s, \"presence\": %.3f, "
                          "\"shape_consistency\": %.3f}",
                          i ? ", " : "", Quote(o.color), Quote(o.shape), Quote(o.motion),
                          o.presence, o.shape_consistency);
  }
  out += "], \"checks\": [";
  for (size_t i = 0; i < score.checks.size(); ++i) {
    const AttributeCheck& c = score.checks[i];
    absl::StrAppendFormat(
        &out, "%s{\"attribute\": %s, \"expected\": %s, \"found\": %s, \"ok\": %s}", i ? ", " : "",
        Quote(c.attribute), Quote(c.expected), Quote(c.found), c.ok ? "true" : "false");
  }
  return out + "]}";
}

}  // namespace reel::eval
