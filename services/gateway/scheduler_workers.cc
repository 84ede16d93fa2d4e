// The worker side of the Scheduler: registration, heartbeats, lease bookkeeping, and the liveness
// pass that re-queues the leases of workers that vanished or dropped them (scheduler.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "services/common/log.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/scheduler.h"
#include "services/gateway/sqlite.h"

namespace reel::gateway {
namespace {

// Heartbeats in a row of a live worker that do not name a lease before it is taken back (one could
// have crossed the LeaseJob answer in flight).
constexpr int kMissedHeartbeatsToReap = 2;

void Log(absl::string_view message) { service::LogLine("reel-gateway", message); }

}  // namespace

void Scheduler::AddLeaseLocked(const std::string& worker_id, const std::string& job_id,
                               int attempt) {
  WorkerInfo& worker = workers_[worker_id];
  if (worker.last_seen == absl::Time()) worker.last_seen = absl::Now();
  for (LeaseRef& lease : worker.leases) {
    if (lease.job_id == job_id) {
      lease.attempt = attempt;
      lease.missed_heartbeats = 0;
      return;
    }
  }
  worker.leases.push_back({job_id, attempt});
}

void Scheduler::DropLeaseLocked(const std::string& worker_id, const std::string& job_id) {
  const auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  auto& leases = it->second.leases;
  leases.erase(std::remove_if(leases.begin(), leases.end(),
                              [&](const LeaseRef& l) { return l.job_id == job_id; }),
               leases.end());
}

absl::StatusOr<v1::RegisterWorkerResponse> Scheduler::Register(
    const v1::RegisterWorkerRequest& request) {
  std::string id = request.worker_id();
  if (id.empty()) id = absl::StrCat("w", NewJobId().substr(1));
  if (id.size() > 128) return absl::InvalidArgumentError("worker_id: at most 128 bytes");
  {
    std::lock_guard<std::mutex> lock(mu_);
    WorkerInfo& worker = workers_[id];
    worker.models.assign(request.models().begin(), request.models().end());
    worker.registered = true;
    worker.last_seen = absl::Now();
  }
  PublishWorker(id, /*force=*/true);
  v1::RegisterWorkerResponse response;
  response.set_worker_id(id);
  response.set_heartbeat_interval_ms(
      static_cast<int>(absl::ToInt64Milliseconds(options_.heartbeat_interval)));
  response.set_worker_timeout_ms(
      static_cast<int>(absl::ToInt64Milliseconds(options_.worker_timeout)));
  return response;
}

absl::StatusOr<bool> Scheduler::ConfirmLease(const std::string& worker_id,
                                             const std::string& job_id, int attempt) {
  REEL_ASSIGN_OR_RETURN(JobRecord job, store_.Get(job_id));
  if (job.state == v1::Job::QUEUED && job.attempts == attempt) {
    // Re-queued (gateway restart or a missed heartbeat) while this worker kept rendering: take it
    // back.
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> reclaimed,
                          store_.Reclaim(job_id, attempt, worker_id, absl::Now()));
    if (reclaimed) {
      std::lock_guard<std::mutex> lock(mu_);
      AddLeaseLocked(worker_id, job_id, attempt);
      TouchLocked(job_id, false);
      return reclaimed->cancel_requested;
    }
    REEL_ASSIGN_OR_RETURN(job, store_.Get(job_id));
  }
  if (job.state != v1::Job::RUNNING || job.attempts != attempt || job.worker_id != worker_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease lost: job ", job_id, " is ", v1::Job::State_Name(job.state),
                     " under attempt ", job.attempts, " of worker '", job.worker_id, "'"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    AddLeaseLocked(worker_id, job_id, attempt);
  }
  RenewSharedLease(worker_id, job_id, attempt);
  return job.cancel_requested;
}

absl::StatusOr<v1::HeartbeatResponse> Scheduler::Heartbeat(const v1::HeartbeatRequest& request) {
  v1::HeartbeatResponse response;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = workers_.find(request.worker_id());
    response.set_registered(it != workers_.end() && it->second.registered);
    if (it != workers_.end()) {
      it->second.last_seen = absl::Now();
      // A live worker reports the lease it renders. One it stopped naming was dropped (its
      // FinishJob could not be recorded, or it gave up): without this the lease would stay
      // RUNNING for as long as the worker lives, since its heartbeats keep it from being reaped.
      auto& leases = it->second.leases;
      for (auto lease = leases.begin(); lease != leases.end();) {
        const bool named = lease->job_id == request.job_id() && lease->attempt == request.attempt();
        lease->missed_heartbeats = named ? 0 : lease->missed_heartbeats + 1;
        if (lease->missed_heartbeats < kMissedHeartbeatsToReap) {
          ++lease;
          continue;
        }
        const std::string reason =
            absl::StrCat("worker '", request.worker_id(), "' is alive but no longer holds it");
        Log(absl::StrCat("job ", lease->job_id, " attempt ", lease->attempt, ": ", reason,
                         "; re-queueing it"));
        orphans_.push_back({request.worker_id(), *lease, reason});
        lease = leases.erase(lease);
      }
    }
  }
  if (response.registered()) PublishWorker(request.worker_id(), /*force=*/false);

  if (!request.job_id().empty()) {
    absl::StatusOr<bool> cancel =
        ConfirmLease(request.worker_id(), request.job_id(), request.attempt());
    // A lease that is gone (or a job that vanished) is as good as cancelled for this worker.
    response.set_cancel(!cancel.ok() || *cancel);
  }
  return response;
}

void Scheduler::ReapLostWorkers() {
  const absl::Time now = absl::Now();
  std::vector<Orphan> orphans;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (now - it->second.last_seen > options_.worker_timeout) {
        // With other gateways on the store the worker may just have moved to one of them: the
        // shared lease, which any gateway it talks to renews, decides (ClusterPass).
        for (const LeaseRef& lease :
             cluster_ != nullptr ? std::vector<LeaseRef>{} : it->second.leases) {
          orphans_.push_back({it->first, lease,
                              absl::StrCat("worker '", it->first, "' sent no heartbeat for ",
                                           absl::FormatDuration(options_.worker_timeout))});
        }
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = live_.begin(); it != live_.end();) {
      it = now - it->second.ended > options_.live_retention ? live_.erase(it) : std::next(it);
    }
    if (metrics_ != nullptr) {
      metrics_->workers.Set(static_cast<double>(std::count_if(
          workers_.begin(), workers_.end(), [](const auto& w) { return w.second.registered; })));
    }
    orphans.swap(orphans_);
  }
  bool requeued = false;
  std::vector<Orphan> retry;
  for (Orphan& orphan : orphans) {
    absl::StatusOr<JobRecord> job =
        store_.Requeue(orphan.lease.job_id, orphan.lease.attempt, orphan.reason,
                       /*penalize=*/true, options_.max_attempts, now);
    if (!job.ok()) {
      // The store could not record it (disk full): keep the lease and try again next pass, or the
      // job would stay RUNNING until the gateway restarts. Any other error means the job finished
      // or moved on meanwhile.
      if (IsStorageFailure(job.status())) {
        if (!orphan.logged) {
          Log(absl::StrCat("cannot re-queue job ", orphan.lease.job_id, " (", orphan.reason,
                           "); retrying every ",
                           absl::FormatDuration(options_.heartbeat_interval / 2), ": ",
                           job.status().ToString()));
          orphan.logged = true;
        }
        retry.push_back(std::move(orphan));
      }
      continue;
    }
    if (orphan.logged) Log(absl::StrCat("job ", job->id, " re-queued after the store recovered"));
    requeued |= job->state == v1::Job::QUEUED;
    if (metrics_ != nullptr && job->state == v1::Job::QUEUED) metrics_->requeued.Increment();
    if (metrics_ != nullptr && IsTerminal(job->state)) metrics_->finished[job->state]->Increment();
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(orphan.lease.job_id, IsTerminal(job->state));
  }
  if (!retry.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    orphans_.insert(orphans_.end(), std::make_move_iterator(retry.begin()),
                    std::make_move_iterator(retry.end()));
  }
  if (requeued) queue_cv_.notify_all();
  if (cluster_ != nullptr) ClusterPass(now);
  // Retention: often enough that a job outlives its expire_time by a small fraction of the TTL.
  if (options_.result_ttl > absl::ZeroDuration() &&
      now - last_sweep_ >=
          std::clamp(options_.result_ttl / 4, absl::Milliseconds(100), absl::Minutes(1))) {
    last_sweep_ = now;
    SweepExpired();
  }
}

void Scheduler::LivenessLoop() {
  const absl::Duration period = std::max(absl::Milliseconds(20), options_.heartbeat_interval / 2);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(period));
    if (stopping_) break;
    lock.unlock();
    ReapLostWorkers();
    lock.lock();
  }
}

}  // namespace reel::gateway
