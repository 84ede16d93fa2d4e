#pragma once
// Helpers shared by the CPU kernel tests: seeded random inputs and tolerance checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace reel::kernels::cpu::testing {

inline std::vector<float> RandomVector(int64_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// |actual - expected| <= abs_tol + rel_tol * |expected| element-wise; reports the first few misses.
inline void ExpectAllNear(const std::vector<float>& actual, const std::vector<double>& expected,
                          double rel_tol, double abs_tol, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int misses = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double err = std::abs(static_cast<double>(actual[i]) - expected[i]);
    const bool ok = err <= abs_tol + rel_tol * std::abs(expected[i]);
    if (!ok && ++misses <= 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected "
                    << expected[i] << " (error " << err << ")";
    }
  }
  EXPECT_EQ(misses, 0) << what << ": " << misses << " of " << actual.size() << " elements off";
}

}  // namespace reel::kernels::cpu::testing
