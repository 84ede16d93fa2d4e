#pragma once
// The gateway's brain: accepts validated jobs into the store, hands them to workers that long-poll
// for leases, tracks worker liveness (heartbeats) and re-queues the jobs of workers that go silent,
// and keeps the live, non-durable side of running jobs (progress, previews) for Watch.
//
// scheduler.cc has the client side, scheduler_workers.cc the worker side (registration, heartbeats,
// lease bookkeeping, the liveness pass).
//
// Durable state lives only in the JobStore; everything in memory here can be lost on restart
// without losing a job (Start() re-queues what was RUNNING; workers that still render reclaim their
// lease).
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reel/v1/generation.pb.h"
#include "reel/v1/worker.pb.h"
#include "services/common/auth.h"
#include "services/gateway/gateway_cluster.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

struct SchedulerOptions {
  int64_t max_queued_jobs = 1024;  // Submit → RESOURCE_EXHAUSTED beyond this many QUEUED jobs
  int64_t max_queued_per_client = 256;  // ... or beyond this many of one client's (0: no cap)
  int max_attempts = 3;                 // leases per job before a lost worker fails it
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration worker_timeout = absl::Seconds(10);  // no heartbeat for this long: worker lost
  absl::Duration live_retention = absl::Minutes(2);   // previews of a finished job stay this long
  int max_previews_per_job = 64;
  std::string result_dir;  // where workers' result files are (checked at FinishJob)
  // Finished jobs and their results are deleted this long after they end (0: kept forever).
  absl::Duration result_ttl = absl::ZeroDuration();
};

class Scheduler {
 public:
  Scheduler(JobStore& store, SchedulerOptions options, GatewayMetrics* metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Re-queues jobs left RUNNING by a previous process and starts the liveness thread.
  absl::Status Start();
  // Wakes every waiting Lease and Watch; idempotent.
  void Stop();
  bool stopping() const;

  // --- public API (requests already validated) ---
  // A job belongs to the principal that submitted it; the calls below that name a job answer
  // NOT_FOUND for another client's job (unless `who` is an admin), exactly as for a job that does
  // not exist, so that ids of other tenants cannot be probed.
  absl::StatusOr<v1::Job> Submit(const v1::GenerateRequest& request,
                                 const service::Principal& who = {});
  absl::StatusOr<v1::Job> Get(const std::string& id, const service::Principal& who = {});
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request,
                                            const service::Principal& who = {});
  absl::StatusOr<v1::Job> Cancel(const std::string& id, const service::Principal& who = {});
  // Deletes a finished job and its result files (AIP-135). FAILED_PRECONDITION while QUEUED or
  // RUNNING.
  absl::Status Delete(const std::string& id, const service::Principal& who = {});
  // The result file of a SUCCEEDED job (FAILED_PRECONDITION otherwise) and the job.
  absl::StatusOr<std::pair<std::string, v1::Job>> ResultPath(const std::string& id,
                                                             const service::Principal& who = {});

  // Where workers write results (FetchResult follow reads partial files there).
  const std::string& result_dir() const { return options_.result_dir; }

  // Watch support: a job's change counter (0 for a job never touched) and a wait for it to pass
  // `seen`.
  uint64_t Version(const std::string& id);
  // Returns the version after waiting until it exceeds `seen`, until `deadline`, or until Stop().
  uint64_t WaitForChange(const std::string& id, uint64_t seen, absl::Time deadline);
  // Previews of job `id` with index >= from (indexes count from the first preview of the job).
  std::vector<v1::Preview> PreviewsSince(const std::string& id, size_t from, size_t* next);

  // Models of the registered workers (for validation).
  std::vector<v1::ModelDescription> ServedModels();
  // One entry per model name, with the number of workers serving it and the largest
  // memory_limit_bytes among them (ListModels).
  std::vector<std::pair<v1::ModelDescription, int>> ModelsWithWorkers();
  int64_t QueuedJobs();

  // --- worker API ---
  absl::StatusOr<v1::RegisterWorkerResponse> Register(const v1::RegisterWorkerRequest& request);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  // Long-polls up to request.wait_ms; `cancelled` is polled so that a client going away stops the
  // wait.
  absl::StatusOr<v1::LeaseJobResponse> Lease(const v1::LeaseJobRequest& request,
                                             const std::function<bool()>& cancelled);
  absl::StatusOr<v1::ReportProgressResponse> ReportProgress(
      const v1::ReportProgressRequest& request);
  absl::Status Finish(const v1::FinishJobRequest& request);

  // Runs one liveness pass now (tests; the thread runs it every heartbeat_interval / 2): forgets
  // silent workers and re-queues their leases, and re-queues leases taken back from live workers.
  // A re-queue the store cannot record (disk full) is retried on every pass until it can.
  void ReapLostWorkers();
  // Deletes the finished jobs older than result_ttl now (tests; the liveness thread runs it
  // regularly). Returns how many it deleted.
  int SweepExpired();

 private:
  struct LeaseRef {
    std::string job_id;
    int attempt = 0;
    // Consecutive heartbeats of its (live) worker that named another job or none: the worker
    // dropped it, e.g. after its FinishJob could not be recorded. Two in a row (one could have
    // crossed the LeaseJob answer in flight) and the lease is taken back.
    int missed_heartbeats = 0;
    absl::Time renewed = absl::InfinitePast();  // last written to a shared store's lease
  };
  // A lease to re-queue: its worker vanished or dropped it.
  struct Orphan {
    std::string worker_id;
    LeaseRef lease;
    std::string reason;
    bool logged = false;  // a storage failure re-queueing it was logged already
  };
  struct WorkerInfo {
    std::vector<v1::ModelDescription> models;
    bool registered = false;  // false: only known from a report, must register again
    absl::Time last_seen;
    std::vector<LeaseRef> leases;
    absl::Time published = absl::InfinitePast();  // last written to a shared store's registry
  };
  struct LiveJob {
    uint64_t version = 0;
    bool has_progress = false;
    v1::Progress progress;
    std::vector<v1::Preview> previews;
    size_t previews_dropped = 0;  // previews before previews.front() that were dropped (cap)
    absl::Time ended = absl::InfiniteFuture();
    // Submit → the first playable bytes of any attempt (Progress.time_to_first_frame_seconds);
    // < 0 until then. Kept across re-leases, which clear `progress`.
    double time_to_first_frame_seconds = -1;
  };

  // Bumps job `id`'s version and wakes watchers. Requires mu_.
  void TouchLocked(const std::string& id, bool terminal);
  void AddLeaseLocked(const std::string& worker_id, const std::string& job_id, int attempt);
  void DropLeaseLocked(const std::string& worker_id, const std::string& job_id);
  // Checks that (job_id, attempt) is held by worker_id, reclaiming it if the job was re-queued and
  // nobody else took it. Returns whether cancellation was requested.
  absl::StatusOr<bool> ConfirmLease(const std::string& worker_id, const std::string& job_id,
                                    int attempt);
  v1::Job ToProto(const JobRecord& record);
  // The job if `who` may see it, else NOT_FOUND.
  absl::StatusOr<JobRecord> VisibleJob(const std::string& id, const service::Principal& who);
  void RemoveStaleAttemptFiles(const JobRecord& job);
  // Removes every result file of job `id` (deleted or expired).
  void RemoveResultFiles(const std::string& id);
  void LivenessLoop();
  // Several gateways on one store (scheduler_cluster.cc): what the others changed, and the shared
  // leases and worker registry.
  void StartCluster();
  void OnRemoteChange(const std::string& id, const std::string& progress);
  void OnResync();
  void RenewSharedLease(const std::string& worker_id, const std::string& job_id, int attempt);
  void PublishWorker(const std::string& worker_id, bool force);
  void ClusterPass(absl::Time now);

  JobStore& store_;
  GatewayCluster* const cluster_;  // nullptr: this gateway is alone on its store
  const SchedulerOptions options_;
  GatewayMetrics* metrics_;

  mutable std::mutex mu_;
  std::condition_variable changed_cv_;  // a job's version moved (Watch)
  std::condition_variable queue_cv_;    // a job may be leasable (Lease)
  std::condition_variable stop_cv_;     // Stop() was called (the liveness thread)
  std::map<std::string, WorkerInfo> workers_;
  std::map<std::string, LiveJob> live_;
  std::vector<Orphan> orphans_;
  // Added to every job's version: bumped when changes made elsewhere may have been missed.
  uint64_t resync_epoch_ = 0;
  // Workers registered with the other gateways (shared store), refreshed by ClusterPass.
  std::map<std::string, std::vector<v1::ModelDescription>> remote_workers_;
  absl::Time last_cluster_pass_ = absl::InfinitePast();
  absl::Time last_sweep_ = absl::InfinitePast();
  bool stopping_ = false;
  std::thread liveness_;
};

// A fresh job id: "j" + 16 hex digits.
std::string NewJobId();
// FNV-1a of the deterministic serialization of `request` without idempotency_key: stable across
// processes and builds, so that an idempotent retry after a restart still matches.
uint64_t RequestHash(const v1::GenerateRequest& request);

}  // namespace reel::gateway
