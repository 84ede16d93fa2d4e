#pragma once
// Where the reel checkout is, seen from the running binary (build/tools/reel/reel), so commands
// find models/ and tools/reference without configuration. REEL_HOME overrides.
#include <string>

namespace reel::cli {

// The nearest ancestor of the executable (or of the current directory) that holds models/ or
// tools/reference; "" if none.
std::string RepoRoot();

}  // namespace reel::cli
