#pragma once
// The HTTP Range header (RFC 9110 §14.1.2), single ranges only: "bytes=a-b", "bytes=a-",
// "bytes=-n" (the last n bytes).
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace reel::gateway {

struct ByteRange {
  int64_t first = 0;
  int64_t last = 0;  // inclusive
};

// The range within a resource of `total` bytes; OUT_OF_RANGE when it is unsatisfiable (416),
// INVALID_ARGUMENT when it is not one byte range.
absl::StatusOr<ByteRange> ParseRange(const std::string& header, int64_t total);

}  // namespace reel::gateway
