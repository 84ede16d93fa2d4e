#pragma once
// The attribute vocabulary of reel-tiny's procedural data (tools/train/reel_train/data.py): colors,
// backgrounds, shapes and motions, with the RGB palette the evaluator classifies against.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace reel::eval {

struct NamedColor {
  std::string_view name;
  std::array<uint8_t, 3> rgb;
};

// Must match COLORS / BACKGROUNDS in tools/train/reel_train/data.py.
inline constexpr std::array<NamedColor, 7> kObjectColors = {{
    {"red", {230, 40, 40}},
    {"green", {40, 190, 60}},
    {"blue", {40, 80, 235}},
    {"yellow", {245, 220, 40}},
    {"orange", {250, 140, 20}},
    {"purple", {150, 50, 200}},
    {"cyan", {40, 215, 225}},
}};
inline constexpr std::array<NamedColor, 3> kBackgrounds = {{
    {"black", {0, 0, 0}},
    {"white", {255, 255, 255}},
    {"gray", {128, 128, 128}},
}};
inline constexpr std::array<std::string_view, 5> kShapes = {"circle", "square", "triangle", "star",
                                                            "diamond"};
inline constexpr std::array<std::string_view, 8> kMotions = {
    "right", "left", "up", "down", "still", "diagonal", "growing", "shrinking"};

// Squared RGB distance.
inline int ColorDistance2(const std::array<uint8_t, 3>& a, const std::array<uint8_t, 3>& b) {
  int d = 0;
  for (int i = 0; i < 3; ++i) {
    const int x = static_cast<int>(a[i]) - static_cast<int>(b[i]);
    d += x * x;
  }
  return d;
}

}  // namespace reel::eval
