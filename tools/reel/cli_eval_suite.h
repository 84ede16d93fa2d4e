#pragma once
// `reel eval --suite`: renders a fixed list of prompts (seen and held-out attribute combinations of
// reel-tiny's data) with a model and scores each video with the evaluator (tools/eval).
#include <string_view>
#include <vector>

namespace reel::cli {

int RunEvalSuite(const std::vector<std::string_view>& argv);

}  // namespace reel::cli
