#pragma once
// The memory this process may use, from its cgroup (what Kubernetes' `limits.memory` sets), so
// that the worker can tell the gateway which jobs it has room for. 0 when there is no limit or it
// cannot be read.
#include <cstdint>
#include <string>

namespace reel::worker {

int64_t CgroupMemoryLimitBytes();

// Parses the content of cgroup v2 memory.max or v1 memory.limit_in_bytes: "max", a number of
// bytes, or v1's "no limit" (a value near 2^63); 0 for none or unreadable text.
int64_t ParseCgroupMemoryLimit(const std::string& text);

}  // namespace reel::worker
