#pragma once
// What several gateways on one job store share beyond the jobs themselves (services/README.md,
// "Several gateways"): leases that any gateway can see expire, the registry of live workers, and
// a change feed so that Watch on one gateway sees what a worker reported to another.
//
// A single gateway keeps all of this in memory (Scheduler); a store that several gateways may use
// at once (PostgreSQL) implements it and the Scheduler then uses both.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reel/v1/worker.pb.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

class GatewayCluster {
 public:
  virtual ~GatewayCluster() = default;

  // Worker `worker_id` still renders lease (id, attempt): a heartbeat or progress report naming it
  // reached some gateway at `now`. FAILED_PRECONDITION when the job is not RUNNING under it.
  virtual absl::Status RenewLease(const std::string& id, int attempt, const std::string& worker_id,
                                  absl::Time now) = 0;
  // Every RUNNING job whose lease was last renewed (or taken) before `cutoff` goes back as by
  // JobStore::Requeue with penalize = true: its worker is gone, whichever gateway it talked to, or
  // that gateway died. Returns the jobs it changed.
  virtual absl::StatusOr<std::vector<JobRecord>> RequeueExpiredLeases(absl::Time cutoff,
                                                                      int max_attempts,
                                                                      absl::Time now) = 0;

  // Worker `worker_id`, serving `models`, was seen at `now` (registration, heartbeat).
  virtual absl::Status PutWorker(const std::string& worker_id,
                                 const std::vector<v1::ModelDescription>& models,
                                 absl::Time now) = 0;
  // The workers any gateway saw since `since`, with their models.
  virtual absl::StatusOr<std::map<std::string, std::vector<v1::ModelDescription>>> LiveWorkers(
      absl::Time since) = 0;

  // Tells the other gateways that job `id` changed; `progress` (a serialized v1::Progress, or "")
  // is the live progress of a job a worker of this gateway renders.
  virtual absl::Status Publish(const std::string& id, const std::string& progress) = 0;

  struct Listener {
    // Another gateway changed job `id` (progress: as given to Publish, "" for a state change).
    std::function<void(const std::string& id, const std::string& progress)> changed;
    // Changes may have been missed (the feed reconnected): every watcher must look again.
    std::function<void()> resync;
  };
  // Delivers the other gateways' changes to `listener` on a thread of the store until
  // StopListening() (or destruction).
  virtual absl::Status Listen(Listener listener) = 0;
  virtual void StopListening() = 0;
};

}  // namespace reel::gateway
