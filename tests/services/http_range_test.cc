// ParseRange (the HTTP Range header) against a brute-force oracle: for every single-range form
// over small sizes, the bytes it selects are exactly those RFC 9110 §14.1.2 defines.
#include "services/gateway/http_range.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace reel::gateway {
namespace {

// The RFC's answer: the [first, last] range, or nullopt when unsatisfiable.
std::optional<std::pair<int64_t, int64_t>> Oracle(std::optional<int64_t> a,
                                                  std::optional<int64_t> b, int64_t total) {
  if (!a) {  // suffix: the last *b bytes
    if (*b <= 0 || total == 0) return std::nullopt;
    return std::make_pair(std::max<int64_t>(0, total - *b), total - 1);
  }
  if (*a >= total) return std::nullopt;
  const int64_t last = b ? std::min(*b, total - 1) : total - 1;
  if (last < *a) return std::nullopt;
  return std::make_pair(*a, last);
}

TEST(ParseRange, MatchesTheRfcOnEverySmallRange) {
  for (int64_t total = 0; total <= 6; ++total) {
    for (int64_t a = -1; a <= 8; ++a) {
      for (int64_t b = -1; b <= 8; ++b) {
        if (a < 0 && b < 0) continue;
        const std::string header =
            absl::StrCat("bytes=", a < 0 ? "" : absl::StrCat(a), "-", b < 0 ? "" : absl::StrCat(b));
        const auto expected = Oracle(a < 0 ? std::nullopt : std::optional<int64_t>(a),
                                     b < 0 ? std::nullopt : std::optional<int64_t>(b), total);
        const absl::StatusOr<ByteRange> got = ParseRange(header, total);
        if (a >= 0 && b >= 0 && b < a) {
          EXPECT_FALSE(got.ok()) << header << " of " << total;
          continue;
        }
        if (!expected) {
          EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange)
              << header << " of " << total;
        } else {
          ASSERT_TRUE(got.ok()) << header << " of " << total << ": " << got.status();
          EXPECT_EQ(got->first, expected->first) << header << " of " << total;
          EXPECT_EQ(got->last, expected->second) << header << " of " << total;
        }
      }
    }
  }
}

TEST(ParseRange, RejectsWhatIsNotOneByteRange) {
  for (const char* header :
       {"items=0-1", "bytes=0-1,3-4", "bytes=x-1", "bytes=1", "bytes=1-x", ""}) {
    const absl::StatusOr<ByteRange> got = ParseRange(header, 100);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << header;
  }
}

}  // namespace
}  // namespace reel::gateway
