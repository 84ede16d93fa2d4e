#pragma once
// Who a rank is in a worker group and where the group meets (ARCHITECTURE.md §4). Shared by every
// communicator backend and by the launchers (`reel render --ranks N`, the worker group).
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace reel {

struct GroupOptions {
  std::string group_id;  // names this group at the rendezvous: [A-Za-z0-9_.-]+, unique per launch
  int rank = 0;
  int world_size = 1;
  // The rendezvous: a directory every rank can reach (same host, or a shared filesystem). Gloo
  // 2022-05 has no TCP store; its FileStore is the well-kept engine for same-host groups.
  std::string address;
  std::string hostname = "127.0.0.1";          // the interface this rank's TCP transport listens on
  absl::Duration timeout = absl::Seconds(30);  // the deadline of every call, rendezvous included
};

// Rank within [0, world_size), a usable group id, a positive timeout, an address that exists.
absl::Status ValidateGroupOptions(const GroupOptions& options);

// Announces this rank at the rendezvous and waits until every rank of the group has joined, with
// the same world size: duplicate ranks (ALREADY_EXISTS), mismatched world sizes (INVALID_ARGUMENT)
// and ranks that never come — a wrong group id, address or world size, a rank that failed to start
// — (DEADLINE_EXCEEDED, naming the missing ranks) are clear errors, never a hang.
absl::Status JoinGroup(const GroupOptions& options);

}  // namespace reel
