#pragma once
// Parses a reel-tiny style prompt ("a red circle moving right and a blue square going up on a white
// background") into the attributes the evaluator checks. Same grammar and synonyms as the data
// generator (tools/train/reel_train/data.py).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reel::eval {

struct ObjectSpec {
  std::string color;   // one of kObjectColors names, "" if the prompt names none
  std::string shape;   // one of kShapes, "" if none
  std::string motion;  // one of kMotions, "" if none
};

struct PromptSpec {
  std::string background;  // "" if the prompt names none
  std::vector<ObjectSpec> objects;
};

// Lowercase words of ASCII letters (the tokenizer's split, TEXT_ENCODER.md).
std::vector<std::string> SplitWords(std::string_view text);

// Never fails: unknown words are ignored. An object starts at each color word or, when the current
// object already has a shape, at each new shape word.
PromptSpec ParsePrompt(std::string_view text);

}  // namespace reel::eval
