#pragma once
// Who a rank is in a worker group and where the group meets (ARCHITECTURE.md §4). Shared by every
// communicator backend and by the launchers (`reel render --ranks N`, the worker group).
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace reel {

class TcpStoreClient;

struct GroupOptions {
  std::string group_id;  // names this group at the rendezvous: [A-Za-z0-9_.-]+, unique per launch
  int rank = 0;
  int world_size = 1;
  // The rendezvous: a directory every rank can reach (same host, or a shared filesystem: Gloo's
  // FileStore), or HOST:PORT where rank 0 serves a small TCP store (tcp_store.h; Gloo 2022-05 has
  // none) that the other ranks connect to — across hosts, e.g. a headless Service name.
  std::string address;
  std::string hostname = "127.0.0.1";          // the interface this rank's TCP transport listens on
  absl::Duration timeout = absl::Seconds(30);  // the deadline of every call, rendezvous included
};

// Rank within [0, world_size), a usable group id, a positive timeout, an address that is an
// existing directory or HOST:PORT.
absl::Status ValidateGroupOptions(const GroupOptions& options);

// Whether the address names a TCP store (HOST:PORT) rather than a directory.
bool IsTcpAddress(const std::string& address);

// Announces this rank at the rendezvous and waits until every rank of the group has joined, with
// the same world size: duplicate ranks (ALREADY_EXISTS), mismatched world sizes (INVALID_ARGUMENT)
// and ranks that never come — a wrong group id, address or world size, a rank that failed to start
// — (DEADLINE_EXCEEDED, naming the missing ranks) are clear errors, never a hang.
// `tcp`: the client of the group's TCP store when IsTcpAddress(options.address), else null.
absl::Status JoinGroup(const GroupOptions& options, TcpStoreClient* tcp = nullptr);

}  // namespace reel
