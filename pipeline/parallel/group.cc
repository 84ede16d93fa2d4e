#include "pipeline/parallel/group.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace reel {
namespace {

std::string JoinPath(const GroupOptions& o, int rank) {
  return absl::StrCat(o.address, "/", o.group_id, ".join.", rank);
}

// Writes via a temporary name and rename(2), so that a reader sees all of it or nothing.
absl::Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.good()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGroupOptions(const GroupOptions& o) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", o.rank, " is not within a world of ", o.world_size));
  }
  if (o.group_id.empty() ||
      o.group_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_.-") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("group id '", o.group_id, "': expected letters, digits, '_', '.', '-'"));
  }
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the group timeout must be positive");
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(o.address, ec)) {
    return absl::UnavailableError(
        absl::StrCat("rendezvous '", o.address, "' is unreachable: not an existing directory"));
  }
  return absl::OkStatus();
}

absl::Status JoinGroup(const GroupOptions& o) {
  if (absl::Status s = ValidateGroupOptions(o); !s.ok()) return s;
  // Claim the rank with O_EXCL: a second process with the same (group, rank) is refused at once
  // instead of silently replacing the first one's address.
  const std::string claim = absl::StrCat(o.address, "/", o.group_id, ".claim.", o.rank);
  const int fd = ::open(claim.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0) {
    return absl::AlreadyExistsError(absl::StrCat("rank ", o.rank, " of group '", o.group_id,
                                                 "' at ", o.address,
                                                 " is already taken (duplicate rank?)"));
  }
  ::close(fd);
  if (absl::Status s = WriteAtomically(JoinPath(o, o.rank), absl::StrCat(o.world_size)); !s.ok()) {
    return s;
  }
  const absl::Time deadline = absl::Now() + o.timeout;
  std::vector<bool> joined(o.world_size, false);
  joined[o.rank] = true;
  while (true) {
    std::vector<int> missing;
    for (int r = 0; r < o.world_size; ++r) {
      if (joined[r]) continue;
      std::ifstream in(JoinPath(o, r));
      int world = 0;
      if (!(in >> world)) {
        missing.push_back(r);
        continue;
      }
      if (world != o.world_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("group '", o.group_id, "': rank ", r, " joined with world size ", world,
                         ", rank ", o.rank, " with ", o.world_size, " (mismatched world sizes)"));
      }
      joined[r] = true;
    }
    if (missing.empty()) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "group '", o.group_id, "' at ", o.address, ": rank(s) ", absl::StrJoin(missing, ", "),
          " of ", o.world_size, " did not join within ", absl::FormatDuration(o.timeout),
          " (wrong group id, address or world size, or a rank failed to start)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace reel
