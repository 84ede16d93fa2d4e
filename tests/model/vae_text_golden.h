#pragma once
// The PyTorch-reference goldens of the VAE decoder and text encoder tests, made live by
// tools/train/make_cpp_golden.py (float64, random seeded weights). ctest runs every test case as
// its own process, so the goldens are made once into the build tree and remade only when the script
// or the reference modules change; a file lock serializes parallel test processes.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace reel::golden {

inline bool GoldenIsFresh(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto stamp = fs::last_write_time(dir / "done", ec);
  if (ec) return false;
  const fs::path src = REEL_SOURCE_DIR;
  for (const char* f :
       {"tools/train/make_cpp_golden.py", "tools/train/reel_train/vae.py",
        "tools/train/reel_train/text_encoder.py", "tools/train/reel_train/data.py"}) {
    const auto t = fs::last_write_time(src / f, ec);
    if (ec || t > stamp) return false;
  }
  return true;
}

// The golden directory, made if missing or stale; an empty string after a reported failure.
inline std::string EnsureVaeTextGolden() {
  const std::string dir = REEL_GOLDEN_DIR;
  const int lock = ::open((dir + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    ADD_FAILURE() << "cannot lock " << dir << ".lock";
    if (lock >= 0) ::close(lock);
    return "";
  }
  std::string result = dir;
  if (!GoldenIsFresh(dir)) {
    std::filesystem::remove_all(dir);
    const std::string cmd =
        absl::StrCat(REEL_PYTHON, " ", REEL_SOURCE_DIR, "/tools/train/make_cpp_golden.py --out ",
                     dir, " > ", dir, ".log 2>&1");
    if (std::system(cmd.c_str()) != 0) {
      ADD_FAILURE() << "the PyTorch reference (tools/train/make_cpp_golden.py) failed: see " << dir
                    << ".log";
      result.clear();
    } else {
      std::ofstream(dir + "/done") << "ok\n";
    }
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return result;
}

inline nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << path << " is not valid JSON";
  return j;
}

}  // namespace reel::golden
