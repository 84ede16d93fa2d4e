#pragma once
// `reel eval --suite`: renders a fixed list of prompts (seen and held-out attribute combinations of
// reel-tiny's data) with a model and scores each video with the evaluator (tools/eval).
#include <string>
#include <string_view>
#include <vector>

namespace reel::cli {

struct SuitePrompt {
  std::string text;
  bool held_out = false;
};

// 24 seen prompts that walk every color, shape, motion and background, plus the 6 held-out triples
// of data.py (HELD_OUT) on two backgrounds.
std::vector<SuitePrompt> Suite();

int RunEvalSuite(const std::vector<std::string_view>& argv);

}  // namespace reel::cli
