#pragma once
// The communicators one rank of a group renders with: sequence parallelism alone (one group of all
// ranks), or CFG parallelism composed with it — world = 2 × S, ranks [0, S) run the conditional
// branch and [S, 2S) the unconditional one, rank r's sequence-parallel group is its half and its
// CFG pair is {r mod S, r mod S + S}. Sub-groups meet at the same rendezvous under derived ids.
#include <memory>

#include "absl/status/statusor.h"
#include "pipeline/parallel/communicator.h"
#include "pipeline/parallel/gloo_communicator.h"
#include "pipeline/parallel/group.h"

namespace reel {

class WorkerGroups {
 public:
  static absl::StatusOr<WorkerGroups> Join(const GroupOptions& options, bool cfg_parallel);

  // What a forward and the sampling loop use (null members: a world of 1 in that dimension).
  ParallelContext context() const { return {sequence_, ParallelSplit::kTokenRows, cfg_.get()}; }
  // Every rank (for control messages: a worker group's request broadcast); null for a world of 1.
  GlooCommunicator* world() const { return world_.get(); }
  // The sequence-parallel group (the world itself without CFG parallelism) and the CFG pair, for
  // traffic figures; null when absent.
  const GlooCommunicator* sequence() const { return sequence_; }
  const GlooCommunicator* cfg() const { return cfg_.get(); }

 private:
  std::unique_ptr<GlooCommunicator> world_, sequence_owned_, cfg_;
  GlooCommunicator* sequence_ = nullptr;  // world_ or sequence_owned_
};

}  // namespace reel
