#include "pipeline/parallel/worker_groups.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<WorkerGroups> WorkerGroups::Join(const GroupOptions& o, bool cfg_parallel) {
  REEL_RETURN_IF_ERROR(ValidateGroupOptions(o));
  WorkerGroups g;
  if (cfg_parallel && o.world_size % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CFG parallelism needs an even number of ranks (2 × sequence parallel), got ",
                     o.world_size));
  }
  if (cfg_parallel && o.world_size > 2 && IsTcpAddress(o.address)) {
    // Each sub-group's rank 0 would serve its own store at the same HOST:PORT.
    return absl::UnimplementedError(
        "CFG parallelism over more than 2 ranks needs a directory rendezvous for now");
  }
  if (o.world_size == 1) return g;
  REEL_ASSIGN_OR_RETURN(g.world_, GlooCommunicator::Create(o));
  if (!cfg_parallel) {
    g.sequence_ = g.world_.get();
    return g;
  }
  const int half = o.world_size / 2, branch = o.rank / half, position = o.rank % half;
  GroupOptions pair = o;
  pair.group_id = absl::StrCat(o.group_id, ".cfg", position);
  pair.rank = branch;
  pair.world_size = 2;
  REEL_ASSIGN_OR_RETURN(g.cfg_, GlooCommunicator::Create(pair));
  if (half > 1) {
    GroupOptions sequence = o;
    sequence.group_id = absl::StrCat(o.group_id, ".sp", branch);
    sequence.rank = position;
    sequence.world_size = half;
    REEL_ASSIGN_OR_RETURN(g.sequence_owned_, GlooCommunicator::Create(sequence));
    g.sequence_ = g.sequence_owned_.get();
  }
  return g;
}

}  // namespace reel
