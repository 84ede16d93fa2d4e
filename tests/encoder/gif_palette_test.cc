// Median-cut quantizer: closed-form cases (few colours are reproduced exactly) and a bound on a
// smooth gradient.
#include "services/encoder/gif_palette.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace reel {
namespace {

// Applies palette + indices, back to RGB24.
std::vector<uint8_t> Expand(const std::vector<uint8_t>& indices, const uint32_t* palette) {
  std::vector<uint8_t> rgb;
  for (uint8_t i : indices) {
    rgb.push_back(static_cast<uint8_t>(palette[i] >> 16));
    rgb.push_back(static_cast<uint8_t>(palette[i] >> 8));
    rgb.push_back(static_cast<uint8_t>(palette[i]));
  }
  return rgb;
}

TEST(MedianCutQuantizer, FewDistinctColoursAreExact) {
  // 200 colours chosen so no two share a 5-bit cell: each gets its own box and its exact value.
  constexpr int kW = 40, kH = 25;
  std::vector<uint8_t> rgb;
  for (int i = 0; i < kW * kH; ++i) {
    const int c = i % 200;
    rgb.push_back(static_cast<uint8_t>((c % 8) * 32 + 3));
    rgb.push_back(static_cast<uint8_t>((c / 8 % 5) * 40 + 5));
    rgb.push_back(static_cast<uint8_t>((c / 40) * 48 + 7));
  }
  std::vector<uint8_t> indices(size_t{kW} * kH);
  uint32_t palette[256];
  MedianCutQuantizer q;
  q.Quantize(rgb.data(), kW, kH, indices.data(), kW, palette);
  EXPECT_EQ(Expand(indices, palette), rgb);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(palette[i] >> 24, 0xFFu) << "opaque";
}

TEST(MedianCutQuantizer, SmoothGradientStaysClose) {
  constexpr int kW = 128, kH = 64;
  std::vector<uint8_t> rgb;
  for (int y = 0; y < kH; ++y) {
    for (int x = 0; x < kW; ++x) {
      rgb.push_back(static_cast<uint8_t>(x * 2));
      rgb.push_back(static_cast<uint8_t>(y * 4));
      rgb.push_back(static_cast<uint8_t>(128 + 100 * std::sin(x * 0.05 + y * 0.03)));
    }
  }
  // Rows padded to a stride wider than the picture, as AVFrame's linesize is.
  constexpr int kStride = kW + 32;
  std::vector<uint8_t> strided(size_t{kStride} * kH, 0xAB);
  uint32_t palette[256];
  MedianCutQuantizer q;
  q.Quantize(rgb.data(), kW, kH, strided.data(), kStride, palette);
  std::vector<uint8_t> indices;
  for (ptrdiff_t y = 0; y < kH; ++y) {
    indices.insert(indices.end(), strided.begin() + y * kStride,
                   strided.begin() + y * kStride + kW);
    EXPECT_EQ(strided[y * kStride + kW], 0xAB) << "wrote past the row";
  }
  const std::vector<uint8_t> back = Expand(indices, palette);
  double sum = 0;
  for (size_t i = 0; i < rgb.size(); ++i) sum += std::abs(int{back[i]} - int{rgb[i]});
  const double mae = sum / rgb.size();
  // Baseline: the fixed 3-3-2 palette (swscale's rgb8), nearest level per channel.
  double sum332 = 0;
  for (size_t i = 0; i < rgb.size(); ++i) {
    const int levels = i % 3 == 2 ? 3 : 7;
    const int q = static_cast<int>(std::lround(rgb[i] * levels / 255.0)) * 255 / levels;
    sum332 += std::abs(q - int{rgb[i]});
  }
  const double mae332 = sum332 / rgb.size();
  // 8192 distinct colours into 256 entries: each entry covers ~8x4 pixels of this 2-D ramp, so
  // ~4 levels per channel is the price without dithering.
  EXPECT_LT(mae, 5.0);
  EXPECT_LT(mae, 0.5 * mae332) << "3-3-2 palette: " << mae332;
  std::printf("median cut %.2f/255, fixed 3-3-2 palette %.2f/255\n", mae, mae332);
}

}  // namespace
}  // namespace reel
