#include "services/worker/memory_limit.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace reel::worker {

int64_t ParseCgroupMemoryLimit(const std::string& text) {
  const absl::string_view value = absl::StripAsciiWhitespace(text);
  int64_t bytes = 0;
  if (value == "max" || !absl::SimpleAtoi(value, &bytes) || bytes <= 0) return 0;
  // cgroup v1 reports "unlimited" as the largest page-aligned int64 (~2^63).
  if (bytes >= (int64_t{1} << 62)) return 0;
  return bytes;
}

int64_t CgroupMemoryLimitBytes() {
  for (const char* path : {"/sys/fs/cgroup/memory.max",                       // cgroup v2
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {  // cgroup v1
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream s;
    s << in.rdbuf();
    return ParseCgroupMemoryLimit(s.str());
  }
  return 0;
}

}  // namespace reel::worker
