#include "services/encoder/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace reel {

absl::StatusOr<std::unique_ptr<TempFile>> TempFile::CreateNextTo(const std::string& destination) {
  const std::string name = destination + ".partial-XXXXXX";
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) {
    const int err = errno;
    const std::string message =
        absl::StrCat("cannot create a file next to '", destination, "': ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  // mkstemp creates 0600; a rendered file should be readable like any other the user writes
  // (reading the umask would mean changing it, which is process-wide).
  fchmod(fd, 0644);
  close(fd);
  return std::make_unique<TempFile>(buf.data());
}

std::string ProgressivePartialPath(const std::string& destination) {
  return destination + ".partial";
}

absl::StatusOr<std::unique_ptr<TempFile>> TempFile::CreateAt(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    const std::string message = absl::StrCat("cannot create '", path, "': ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  close(fd);
  return std::make_unique<TempFile>(path);
}

TempFile::~TempFile() {
  if (!committed_) std::remove(path_.c_str());
}

absl::Status TempFile::CommitAs(const std::string& destination) {
  if (std::rename(path_.c_str(), destination.c_str()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename '", path_, "' to '", destination, "': ", std::strerror(errno)));
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace reel
