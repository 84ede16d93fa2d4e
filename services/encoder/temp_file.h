#pragma once
// A uniquely named file next to a destination: sinks write into it and rename it into place when
// they succeed, so the destination never holds a half-written file.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace reel {

// Where a progressive sink writes `destination` while it grows: a fixed name, so that readers
// can find it (result names are unique per job attempt, so there is one writer).
std::string ProgressivePartialPath(const std::string& destination);

class TempFile {
 public:
  // Creates "<destination>.partial-XXXXXX" (empty, mode 0644) in the destination's directory, so
  // the final rename stays within one file system and is atomic.
  static absl::StatusOr<std::unique_ptr<TempFile>> CreateNextTo(const std::string& destination);

  // Creates (or truncates) exactly `path`: a partial file others may look for while it grows,
  // e.g. a progressive result the gateway streams while the job runs (ProgressivePartialPath).
  static absl::StatusOr<std::unique_ptr<TempFile>> CreateAt(const std::string& path);

  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  // Deletes the file unless it was committed.
  ~TempFile();

  const std::string& path() const { return path_; }
  // Renames the file to `destination`, replacing what was there.
  absl::Status CommitAs(const std::string& destination);

 private:
  std::string path_;
  bool committed_ = false;
};

}  // namespace reel
