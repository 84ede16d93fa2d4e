#include "services/gateway/http_range.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace reel::gateway {

absl::StatusOr<ByteRange> ParseRange(const std::string& header, int64_t total) {
  absl::string_view spec = absl::StripAsciiWhitespace(header);
  if (!absl::ConsumePrefix(&spec, "bytes=") || absl::StrContains(spec, ',')) {
    return absl::InvalidArgumentError(
        absl::StrCat("Range: '", header, "' is not a single byte range (bytes=first-last)"));
  }
  const size_t dash = spec.find('-');
  if (dash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("Range: '", header, "' has no '-'"));
  }
  const absl::string_view a = spec.substr(0, dash);
  const absl::string_view b = spec.substr(dash + 1);
  int64_t first = 0;
  int64_t last = total - 1;
  if (a.empty()) {  // suffix: the last n bytes
    int64_t n = 0;
    if (!absl::SimpleAtoi(b, &n) || n <= 0) {
      return absl::OutOfRangeError(absl::StrCat("Range: '", header, "' selects no bytes"));
    }
    first = std::max<int64_t>(0, total - n);
  } else {
    if (!absl::SimpleAtoi(a, &first) || first < 0 || (!b.empty() && !absl::SimpleAtoi(b, &last))) {
      return absl::InvalidArgumentError(absl::StrCat("Range: '", header, "' is not a byte range"));
    }
    last = std::min(last, total - 1);
  }
  if (first >= total || last < first) {
    return absl::OutOfRangeError(
        absl::StrCat("Range: '", header, "' is outside the result's ", total, " bytes"));
  }
  return ByteRange{first, last};
}

}  // namespace reel::gateway
