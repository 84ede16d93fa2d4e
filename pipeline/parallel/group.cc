#include "pipeline/parallel/group.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/parallel/tcp_store.h"

namespace reel {
namespace {

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

// The three things joining needs from a rendezvous, over a directory or a TCP store.
class JoinStore {
 public:
  virtual ~JoinStore() = default;
  virtual absl::StatusOr<bool> Claim(const std::string& key) = 0;  // true: newly claimed
  virtual absl::Status Set(const std::string& key, const std::string& value) = 0;
  virtual absl::StatusOr<std::optional<std::string>> TryGet(const std::string& key) = 0;
};

class DirectoryJoinStore final : public JoinStore {
 public:
  explicit DirectoryJoinStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<bool> Claim(const std::string& key) override {
    // O_EXCL: a second claimant is refused at once instead of replacing the first one's address.
    const int fd = ::open(Path(key).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }
  absl::Status Set(const std::string& key, const std::string& value) override {
    return WriteAtomically(Path(key), value);
  }
  absl::StatusOr<std::optional<std::string>> TryGet(const std::string& key) override {
    std::ifstream in(Path(key));
    if (!in) return std::optional<std::string>();
    std::stringstream text;
    text << in.rdbuf();
    return std::optional<std::string>(text.str());
  }

 private:
  std::string Path(const std::string& key) const { return absl::StrCat(dir_, "/", key); }
  std::string dir_;
};

class TcpJoinStore final : public JoinStore {
 public:
  TcpJoinStore(TcpStoreClient& client, absl::Time deadline) : c_(client), deadline_(deadline) {}
  absl::StatusOr<bool> Claim(const std::string& key) override {
    return c_.Claim(key, "1", deadline_);
  }
  absl::Status Set(const std::string& key, const std::string& value) override {
    return c_.Set(key, value, deadline_);
  }
  absl::StatusOr<std::optional<std::string>> TryGet(const std::string& key) override {
    return c_.TryGet(key, deadline_);
  }

 private:
  TcpStoreClient& c_;
  absl::Time deadline_;
};

}  // namespace

bool IsTcpAddress(const std::string& address) {
  std::error_code ec;
  return !std::filesystem::is_directory(address, ec) && ParseHostPort(address).ok();
}

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
  if (std::filesystem::is_directory(o.address, ec) || IsTcpAddress(o.address)) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "rendezvous '", o.address, "' is unreachable: neither an existing directory nor HOST:PORT"));
}

absl::Status JoinGroup(const GroupOptions& o, TcpStoreClient* tcp) {
  if (absl::Status s = ValidateGroupOptions(o); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + o.timeout;
  std::unique_ptr<JoinStore> store;
  if (IsTcpAddress(o.address)) {
    if (tcp == nullptr) return absl::InvalidArgumentError("JoinGroup: HOST:PORT needs a client");
    store = std::make_unique<TcpJoinStore>(*tcp, deadline);
  } else {
    store = std::make_unique<DirectoryJoinStore>(o.address);
  }
  const std::string prefix = absl::StrCat(o.group_id, ".");
  absl::StatusOr<bool> claimed = store->Claim(absl::StrCat(prefix, "claim.", o.rank));
  if (!claimed.ok()) return claimed.status();
  if (!*claimed) {
    return absl::AlreadyExistsError(absl::StrCat("rank ", o.rank, " of group '", o.group_id,
                                                 "' at ", o.address,
                                                 " is already taken (duplicate rank?)"));
  }
  if (absl::Status s =
          store->Set(absl::StrCat(prefix, "join.", o.rank), absl::StrCat(o.world_size));
      !s.ok()) {
    return s;
  }
  std::vector<bool> joined(o.world_size, false);
  joined[o.rank] = true;
  while (true) {
    std::vector<int> missing;
    for (int r = 0; r < o.world_size; ++r) {
      if (joined[r]) continue;
      absl::StatusOr<std::optional<std::string>> value =
          store->TryGet(absl::StrCat(prefix, "join.", r));
      if (!value.ok()) return value.status();
      int world = 0;
      if (!value->has_value() || !absl::SimpleAtoi(**value, &world)) {
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
