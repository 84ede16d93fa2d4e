#include "services/common/log.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace reel::service {

void LogLine(absl::string_view component, absl::string_view message) {
  const std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   component, ": ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines from threads don't mix
  std::fflush(stderr);
}

}  // namespace reel::service
