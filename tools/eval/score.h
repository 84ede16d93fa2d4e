#pragma once
// Checks a video's attributes against its prompt: one check per attribute the prompt names.
#include <string>
#include <vector>

#include "tools/eval/analyze.h"
#include "tools/eval/prompt.h"

namespace reel::eval {

struct AttributeCheck {
  std::string attribute;  // "background", "object0.color", "object0.shape", "object0.motion", ...
  std::string expected;
  std::string found;  // "" when nothing matched
  bool ok = false;
};

struct PromptScore {
  std::vector<AttributeCheck> checks;
  double accuracy = 0;              // fraction of checks that are ok (1 when there are none)
  double temporal_consistency = 0;  // mean over matched objects of presence x shape consistency
  // The long-video criterion (`reel eval --suite --long`): an object was found, every color check
  // is ok, and temporal_consistency >= 0.9 (each object keeps one shape in >= 90% of the frames).
  bool keeps_color_and_shape = false;
};

// Each prompt object is matched to the detected object of its color (or, without a color, the
// largest unmatched one); its shape and motion are then compared.
PromptScore ScorePrompt(const PromptSpec& prompt, const VideoAnalysis& video);

// One JSON object: prompt, frame count, accuracy, temporal consistency, detected objects and
// checks.
std::string ScoreJson(const std::string& prompt, size_t frames, const VideoAnalysis& video,
                      const PromptScore& score);

}  // namespace reel::eval
