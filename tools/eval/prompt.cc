#include "tools/eval/prompt.h"

#include <map>

namespace reel::eval {
namespace {

const std::map<std::string, std::string>& ColorWords() {
  static const auto* m = new std::map<std::string, std::string>{
      {"red", "red"},       {"green", "green"},   {"blue", "blue"},     {"yellow", "yellow"},
      {"orange", "orange"}, {"purple", "purple"}, {"violet", "purple"}, {"cyan", "cyan"}};
  return *m;
}

const std::map<std::string, std::string>& BackgroundWords() {
  static const auto* m = new std::map<std::string, std::string>{
      {"black", "black"}, {"white", "white"}, {"gray", "gray"}, {"grey", "gray"}};
  return *m;
}

const std::map<std::string, std::string>& ShapeWords() {
  static const auto* m = new std::map<std::string, std::string>{
      {"circle", "circle"},   {"ball", "circle"},    {"disc", "circle"},   {"dot", "circle"},
      {"square", "square"},   {"box", "square"},     {"triangle", "triangle"}, {"star", "star"},
      {"diamond", "diamond"}, {"rhombus", "diamond"}};
  return *m;
}

// Single words that decide a motion. "not moving" is caught by "not" before "moving".
const std::map<std::string, std::string>& MotionWords() {
  static const auto* m = new std::map<std::string, std::string>{
      {"right", "right"},        {"left", "left"},          {"up", "up"},
      {"upward", "up"},          {"rising", "up"},          {"down", "down"},
      {"downward", "down"},      {"falling", "down"},       {"still", "still"},
      {"static", "still"},       {"resting", "still"},      {"not", "still"},
      {"diagonally", "diagonal"}, {"bouncing", "diagonal"}, {"growing", "growing"},
      {"bigger", "growing"},     {"expanding", "growing"},  {"shrinking", "shrinking"},
      {"smaller", "shrinking"},  {"contracting", "shrinking"}};
  return *m;
}

}  // namespace

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    char c = ch;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c >= 'a' && c <= 'z') {
      cur.push_back(c);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

PromptSpec ParsePrompt(std::string_view text) {
  PromptSpec spec;
  ObjectSpec* cur = nullptr;
  auto start_object = [&]() {
    spec.objects.emplace_back();
    cur = &spec.objects.back();
  };
  for (const std::string& w : SplitWords(text)) {
    if (auto it = BackgroundWords().find(w); it != BackgroundWords().end()) {
      spec.background = it->second;
    } else if (auto it = ColorWords().find(w); it != ColorWords().end()) {
      start_object();
      cur->color = it->second;
    } else if (auto it = ShapeWords().find(w); it != ShapeWords().end()) {
      if (cur == nullptr || !cur->shape.empty()) start_object();
      cur->shape = it->second;
    } else if (auto it = MotionWords().find(w); it != MotionWords().end()) {
      // "bouncing diagonally": the first motion word of an object wins, except that an explicit
      // direction refines "bouncing" (both mean diagonal here).
      if (cur == nullptr) start_object();
      if (cur->motion.empty()) cur->motion = it->second;
    }
  }
  return spec;
}

}  // namespace reel::eval
