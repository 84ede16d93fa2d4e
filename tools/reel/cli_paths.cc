#include "tools/reel/cli_paths.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace reel::cli {
namespace fs = std::filesystem;

std::string RepoRoot() {
  if (const char* home = std::getenv("REEL_HOME"); home != nullptr && *home != '\0') return home;
  std::error_code ec;
  for (fs::path start :
       {fs::read_symlink("/proc/self/exe", ec).parent_path(), fs::current_path(ec)}) {
    for (fs::path p = start; !p.empty(); p = p.parent_path()) {
      if (fs::exists(p / "models", ec) || fs::exists(p / "tools" / "reference", ec))
        return p.string();
      if (p == p.root_path()) break;
    }
  }
  return "";
}

}  // namespace reel::cli
