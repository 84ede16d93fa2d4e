#pragma once
// `--ranks N` for a CLI command: this process becomes rank 0 of a local worker group and starts
// ranks 1..N−1 as child processes of the same binary and command (each with its own --threads),
// meeting at a fresh rendezvous directory. The children are reaped — or killed if still running —
// when the group object goes away, so an error on rank 0 never leaves ranks behind.
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pipeline/parallel/group.h"

namespace reel::cli {

// Threads for each of `world` local ranks when the user names none: the cores shared out (at least
// one each); 0 (all cores) for a world of one.
int DefaultThreadsPerRank(int world);

class LocalGroup {
 public:
  // Starts ranks 1..world−1 as `/proc/self/exe <command> <args...> --rank R --ranks world
  // --group_id ID --rendezvous DIR --group_timeout S --quiet`; this process is rank 0 of
  // the returned options().
  static absl::StatusOr<LocalGroup> Start(std::string_view command,
                                          const std::vector<std::string_view>& args, int world,
                                          absl::Duration timeout);
  LocalGroup(LocalGroup&& other) noexcept;
  LocalGroup& operator=(LocalGroup&&) = delete;
  ~LocalGroup();

  const GroupOptions& options() const { return options_; }
  const std::vector<pid_t>& pids() const { return pids_; }  // rank r at pids()[r − 1]

  // Waits for every child until `deadline`; OK when all exited 0, else what went wrong with each
  // ("rank 1 (pid 123) was killed by signal 9"). Children still running then are killed.
  absl::Status Wait(absl::Time deadline);
  // The same description for children that have already ended badly, without waiting ("" if none):
  // appended to rank 0's own error so the message names the rank that died.
  std::string DeadRanks();

 private:
  LocalGroup() = default;
  void KillAll();

  GroupOptions options_;
  std::vector<pid_t> pids_;
  std::vector<int> exit_status_;  // waitpid status once reaped; -1 while running
  bool owns_dir_ = false;
};

}  // namespace reel::cli
