#include "tools/reel/cli_group.h"

#include <fcntl.h>
#include <omp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace reel::cli {
namespace {

std::string Describe(int rank, pid_t pid, int status) {
  if (WIFEXITED(status)) {
    return absl::StrCat("rank ", rank, " (pid ", pid, ") exited with code ", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return absl::StrCat("rank ", rank, " (pid ", pid, ") was killed by signal ", WTERMSIG(status),
                        " (", strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("rank ", rank, " (pid ", pid, ") ended abnormally");
}

bool Failed(int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }

}  // namespace

int DefaultThreadsPerRank(int world) {
  return world > 1 ? std::max(1, omp_get_num_procs() / world) : 0;
}

absl::StatusOr<LocalGroup> LocalGroup::Start(std::string_view command,
                                             const std::vector<std::string_view>& args, int world,
                                             absl::Duration timeout) {
  LocalGroup g;
  g.options_.world_size = world;
  g.options_.rank = 0;
  g.options_.timeout = timeout;
  g.options_.group_id = absl::StrCat("render-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  std::error_code ec;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path(ec) / absl::StrCat("reel-group-", g.options_.group_id);
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create the rendezvous directory ", dir.string(), ": ", ec.message()));
  }
  g.options_.address = dir.string();
  g.owns_dir_ = true;
  for (int r = 1; r < world; ++r) {
    std::vector<std::string> argv_strings = {"/proc/self/exe", std::string(command)};
    for (std::string_view a : args) argv_strings.emplace_back(a);
    for (std::string extra :
         {std::string("--rank"), absl::StrCat(r), std::string("--ranks"), absl::StrCat(world),
          std::string("--group_id"), g.options_.group_id, std::string("--rendezvous"),
          g.options_.address, std::string("--group_timeout"),
          absl::StrCat(absl::ToDoubleSeconds(timeout)), std::string("--quiet")}) {
      argv_strings.push_back(std::move(extra));
    }
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // Followers print nothing but their errors (stderr is shared with rank 0).
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      return absl::UnavailableError(absl::StrCat("cannot start rank ", r, ": ", strerror(rc)));
    }
    g.pids_.push_back(pid);
    g.exit_status_.push_back(-1);
  }
  return g;
}

LocalGroup::LocalGroup(LocalGroup&& other) noexcept
    : options_(std::move(other.options_)),
      pids_(std::move(other.pids_)),
      exit_status_(std::move(other.exit_status_)),
      owns_dir_(std::exchange(other.owns_dir_, false)) {
  other.pids_.clear();
}

LocalGroup::~LocalGroup() {
  KillAll();
  if (owns_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(options_.address, ec);
  }
}

void LocalGroup::KillAll() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (exit_status_[i] != -1) continue;
    kill(pids_[i], SIGKILL);
    int status = 0;
    if (waitpid(pids_[i], &status, 0) == pids_[i]) exit_status_[i] = status;
  }
}

std::string LocalGroup::DeadRanks() {
  std::vector<std::string> dead;
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (exit_status_[i] == -1) {
      int status = 0;
      if (waitpid(pids_[i], &status, WNOHANG) == pids_[i]) exit_status_[i] = status;
    }
    if (exit_status_[i] != -1 && Failed(exit_status_[i])) {
      dead.push_back(Describe(static_cast<int>(i) + 1, pids_[i], exit_status_[i]));
    }
  }
  return absl::StrJoin(dead, "; ");
}

absl::Status LocalGroup::Wait(absl::Time deadline) {
  while (true) {
    bool running = false;
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (exit_status_[i] != -1) continue;
      int status = 0;
      if (waitpid(pids_[i], &status, WNOHANG) == pids_[i]) {
        exit_status_[i] = status;
      } else {
        running = true;
      }
    }
    if (!running) break;
    if (absl::Now() > deadline) {
      KillAll();
      return absl::DeadlineExceededError("ranks of the group did not finish in time (killed)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string dead = DeadRanks();
  if (!dead.empty()) return absl::UnavailableError(dead);
  return absl::OkStatus();
}

}  // namespace reel::cli
