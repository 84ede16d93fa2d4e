#include "pipeline/parallel/worker_groups.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<WorkerGroups> WorkerGroups::Join(const GroupOptions& o, bool cfg_parallel) {
  REEL_RETURN_IF_ERROR(ValidateGroupOptions(o));
  WorkerGroups g;
  if (!cfg_parallel) {
    if (o.world_size > 1) {
      REEL_ASSIGN_OR_RETURN(g.sequence_, GlooCommunicator::Create(o));
    }
    return g;
  }
  if (o.world_size % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CFG parallelism needs an even number of ranks (2 × sequence parallel), got ",
                     o.world_size));
  }
  const int half = o.world_size / 2, branch = o.rank / half, position = o.rank % half;
  // Join the pair first: with a world of 2 it is the only group.
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
    REEL_ASSIGN_OR_RETURN(g.sequence_, GlooCommunicator::Create(sequence));
  }
  return g;
}

}  // namespace reel
