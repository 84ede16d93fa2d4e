#include "tools/reel/cli_models.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "tools/reel/cli_paths.h"

namespace reel::cli {
namespace fs = std::filesystem;

std::string DefaultModelDir() {
  if (const char* env = std::getenv("REEL_MODEL"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::string root = RepoRoot();
  if (!root.empty() && fs::exists(fs::path(root) / "models" / "reel-tiny", ec)) {
    return (fs::path(root) / "models" / "reel-tiny").string();
  }
  return "models/reel-tiny";
}

std::vector<std::string> ModelSearchRoots() {
  std::vector<std::string> roots;
  std::error_code ec;
  std::vector<fs::path> candidates;
  if (const std::string root = RepoRoot(); !root.empty())
    candidates.push_back(fs::path(root) / "models");
  candidates.push_back(fs::current_path(ec) / "models");
  for (const fs::path& p : candidates) {
    if (!fs::is_directory(p, ec)) continue;
    const std::string canonical = fs::weakly_canonical(p, ec).string();
    bool seen = false;
    for (const std::string& r : roots) seen = seen || r == canonical;
    if (!seen) roots.push_back(canonical);
  }
  return roots;
}

}  // namespace reel::cli
