#pragma once
// Where `reel render` and `reel models` look for model directories (models/<name>/config.json).
#include <string>
#include <vector>

namespace reel::cli {

// The model used without --model: $REEL_MODEL if set, else models/reel-tiny under the checkout the
// binary lives in (cli_paths.h RepoRoot: the executable's ancestors, then the current directory's),
// else ./models/reel-tiny.
std::string DefaultModelDir();

// Folders that hold model directories: <repo>/models and ./models, existing ones only, no
// duplicates.
std::vector<std::string> ModelSearchRoots();

}  // namespace reel::cli
