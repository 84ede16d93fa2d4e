#pragma once
// `reel bench --ranks N`: what sharding a render over N local processes sends and costs, measured
// on the real path (`reel render --ranks N` child processes, their --stats_json), side by side with
// one process using the same cores, at two resolutions.
#include <string_view>
#include <vector>

namespace reel::cli {

int RunBenchRanks(const std::vector<std::string_view>& argv);

}  // namespace reel::cli
