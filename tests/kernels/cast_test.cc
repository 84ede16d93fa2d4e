// f32 <-> f16/bf16 against an arithmetic oracle: decode with ldexp, encode by rounding |x| / ulp
// with nearbyint (ties to even) in double. Bulk calls run the vector path (F16C where present);
// single elements run the scalar tail, so both are checked against the same oracle.
#include "kernels/cpu/cast.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace reel::kernels::cpu {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Value of a half bit pattern (NaN for NaNs).
double HalfValue(uint16_t h) {
  const int exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

double Bf16Value(uint16_t b) {
  const int exp = (b >> 7) & 0xFF, mant = b & 0x7F;
  const double sign = (b & 0x8000) ? -1.0 : 1.0;
  if (exp == 255) return mant ? NAN : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -133);
  return sign * std::ldexp(128 + mant, exp - 134);
}

// Rounds |x| to `mant_bits` fraction bits with exponent floor `min_exp`, ties to even (the default
// FE_TONEAREST mode of nearbyint). Exact in double for every f32 input.
double RoundToFormat(double ax, int mant_bits, int min_exp) {
  if (ax == 0) return 0;
  int e;
  std::frexp(ax, &e);  // ax in [2^(e-1), 2^e).
  const double ulp = std::ldexp(1.0, std::max(e - 1, min_exp) - mant_bits);
  return std::nearbyint(ax / ulp) * ulp;
}

uint16_t F16Oracle(float x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x)) return 0x7E00;  // Only NaN-ness and sign are checked.
  const double r = RoundToFormat(std::abs(double{x}), 10, -14);
  if (r > 65504.0) return sign | 0x7C00;
  // Positive halves are ordered like their bit patterns: binary search the pattern.
  uint16_t lo = 0, hi = 0x7BFF;
  while (lo < hi) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
    if (HalfValue(mid) < r)
      lo = mid + 1;
    else
      hi = mid;
  }
  EXPECT_EQ(HalfValue(lo), r);
  return sign | lo;
}

uint16_t Bf16Oracle(float x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x)) return 0x7FC0;
  const double r = RoundToFormat(std::abs(double{x}), 7, -126);
  if (r >= std::ldexp(1.0, 128)) return sign | 0x7F80;
  return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(static_cast<float>(r)) >> 16);
}

void ExpectSameHalf(uint16_t got, uint16_t want, float x, const char* what) {
  if ((want & 0x7FFF) > 0x7C00 || want == 0x7E00) {
    EXPECT_TRUE((got & 0x7FFF) > 0x7C00) << what << ": NaN lost for " << x;
    EXPECT_EQ(got & 0x8000, std::signbit(x) ? 0x8000 : 0) << what;
  } else {
    EXPECT_EQ(got, want) << what << ": x=" << x << " bits=0x" << std::hex
                         << std::bit_cast<uint32_t>(x);
  }
}

std::vector<float> TestFloats() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          kInf,
                          -kInf,
                          kNan,
                          -kNan,
                          std::bit_cast<float>(0x7F800001u),  // Signalling NaN.
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::min(),
                          65504.0f,
                          65519.996f,
                          65520.0f,
                          1e10f};
  std::mt19937 gen(42);
  // Random bit patterns over the whole range, and uniformly in exponent over half's range.
  for (int i = 0; i < 50000; ++i) v.push_back(std::bit_cast<float>(static_cast<uint32_t>(gen())));
  std::uniform_real_distribution<float> exp(-30.0f, 17.0f);
  for (int i = 0; i < 100000; ++i) v.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(exp(gen)));
  return v;
}

TEST(CastF16Test, DecodesEveryHalfPattern) {
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> bulk(65536);
  F16ToF32(all.data(), bulk.data(), 65536);
  for (int i = 0; i < 65536; ++i) {
    float single;
    F16ToF32(&all[i], &single, 1);
    const double want = HalfValue(all[i]);
    for (const float got : {bulk[i], single}) {
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << i;
        EXPECT_EQ(std::signbit(got), (i & 0x8000) != 0) << i;
      } else {
        ASSERT_EQ(got, want) << "half 0x" << std::hex << i;
        ASSERT_EQ(std::signbit(got), (i & 0x8000) != 0) << i;
      }
    }
  }
}

TEST(CastF16Test, RepresentableValuesRoundTripExactly) {
  std::vector<uint16_t> all(65536), back(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> f(65536);
  F16ToF32(all.data(), f.data(), 65536);
  F32ToF16(f.data(), back.data(), 65536);
  for (int i = 0; i < 65536; ++i) {
    if ((i & 0x7FFF) > 0x7C00) {
      EXPECT_GT(back[i] & 0x7FFF, 0x7C00) << i;  // NaN stays NaN.
    } else {
      ASSERT_EQ(back[i], all[i]) << "half 0x" << std::hex << i;
    }
  }
}

TEST(CastF16Test, RoundsToNearestEvenOnHandPickedTies) {
  struct Tie {
    float x;
    uint16_t want;
  };
  const Tie ties[] = {
      {1.0f + 0x1p-11f, 0x3C00},      // Halfway between 1 and 1+2^-10: even is 1.
      {1.0f + 3 * 0x1p-11f, 0x3C02},  // Halfway between odd 0x3C01 and 0x3C02: up.
      {0x1p-25f, 0x0000},             // Half the smallest denormal: to zero.
      {-0x1p-25f, 0x8000},
      {3 * 0x1p-25f, 0x0002},         // 1.5 denormal steps: to 2.
      {0x1p-14f - 0x1p-25f, 0x0400},  // Max denormal + half step: up to the smallest normal.
      {65504.0f + 16.0f, 0x7C00},     // Halfway to 65536 (odd mantissa) -> infinity.
      {65504.0f + 15.99f, 0x7BFF},
      {2048.0f + 1.0f, 0x6800},  // 2049: tie between 2048 and 2050, even is 2048.
      {2048.0f + 3.0f, 0x6802}};
  for (const Tie& t : ties) {
    uint16_t single;
    F32ToF16(&t.x, &single, 1);
    EXPECT_EQ(single, t.want) << t.x;
    std::vector<float> eight(8, t.x);
    std::vector<uint16_t> out(8);
    F32ToF16(eight.data(), out.data(), 8);
    EXPECT_EQ(out[0], t.want) << t.x << " (vector path)";
    EXPECT_EQ(F16Oracle(t.x), t.want) << "oracle disagrees on " << t.x;
  }
}

TEST(CastF16Test, MatchesOracleOnRandomFloatsAndMeetsErrorBound) {
  const auto x = TestFloats();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> bulk(n);
  F32ToF16(x.data(), bulk.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t single;
    F32ToF16(&x[i], &single, 1);
    const uint16_t want = F16Oracle(x[i]);
    ExpectSameHalf(bulk[i], want, x[i], "bulk");
    ExpectSameHalf(single, want, x[i], "single");
    if (HasFailure()) return;
    // Relative error 2^-11 in the normal range.
    const double ax = std::abs(double{x[i]});
    if (ax >= 0x1p-14 && ax <= 65504.0) {
      ASSERT_LE(std::abs(HalfValue(bulk[i]) - x[i]), 0x1p-11 * ax) << x[i];
    }
  }
}

TEST(CastBf16Test, EveryPatternDecodesAndRoundTrips) {
  std::vector<uint16_t> all(65536), back(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> f(65536);
  Bf16ToF32(all.data(), f.data(), 65536);
  F32ToBf16(f.data(), back.data(), 65536);
  for (int i = 0; i < 65536; ++i) {
    const double want = Bf16Value(all[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(f[i])) << i;
      EXPECT_GT(back[i] & 0x7FFF, 0x7F80) << i;
    } else {
      ASSERT_EQ(f[i], want) << "bf16 0x" << std::hex << i;
      ASSERT_EQ(back[i], all[i]) << "bf16 0x" << std::hex << i;
    }
  }
}

TEST(CastBf16Test, RoundsToNearestEvenOnHandPickedTiesAndNan) {
  struct Tie {
    uint32_t bits;
    uint16_t want;
  };
  const Tie ties[] = {
      {0x3F808000u, 0x3F80},  // 1 + 2^-8: halfway, even is 1.
      {0x3F818000u, 0x3F82},  // Halfway above odd 0x3F81: up.
      {0x3F808001u, 0x3F81},  // Just above halfway: up.
      {0x00008000u, 0x0000},  // Denormal tie: to zero.
      {0x00018000u, 0x0002},
      {0x7F7F8000u, 0x7F80},  // Tie above the largest finite bf16 (odd): overflows to infinity.
      {0x7F7FFFFFu, 0x7F80},  // f32 max rounds to infinity too.
      {0xFF7F7FFFu, 0xFF7F},  // Below the tie: largest finite, negative.
      {0x7F800001u, 0x7FC0},  // Signalling NaN whose payload sits in the dropped bits: stays NaN.
      {0xFFC00000u, 0xFFC0}};
  for (const Tie& t : ties) {
    const float x = std::bit_cast<float>(t.bits);
    uint16_t got;
    F32ToBf16(&x, &got, 1);
    EXPECT_EQ(got, t.want) << std::hex << t.bits;
    if (!std::isnan(x)) {
      EXPECT_EQ(Bf16Oracle(x), t.want) << "oracle disagrees on " << std::hex << t.bits;
    }
  }
}

TEST(CastBf16Test, MatchesOracleOnRandomFloatsAndMeetsErrorBound) {
  const auto x = TestFloats();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> got(n);
  F32ToBf16(x.data(), got.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) {
      ASSERT_GT(got[i] & 0x7FFF, 0x7F80) << i;
      continue;
    }
    ASSERT_EQ(got[i], Bf16Oracle(x[i]))
        << "x=" << x[i] << " bits=0x" << std::hex << std::bit_cast<uint32_t>(x[i]);
    const double ax = std::abs(double{x[i]});
    if (ax >= 0x1p-126 && std::isfinite(Bf16Value(got[i]))) {
      ASSERT_LE(std::abs(Bf16Value(got[i]) - x[i]), 0x1p-8 * ax) << x[i];
    }
  }
}

}  // namespace
}  // namespace reel::kernels::cpu
