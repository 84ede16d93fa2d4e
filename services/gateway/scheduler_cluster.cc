// The Scheduler with other gateways on its store (services/README.md, "Several gateways"): leases
// renewed in the store and taken back by whichever gateway sees them expire, the registry of every
// gateway's workers, and the other gateways' changes waking this one's Watch and Lease calls.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/log.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/scheduler.h"

namespace reel::gateway {
namespace {

void Log(absl::string_view message) { service::LogLine("reel-gateway", message); }

}  // namespace

void Scheduler::StartCluster() {
  GatewayCluster::Listener listener;
  listener.changed = [this](const std::string& id, const std::string& progress) {
    OnRemoteChange(id, progress);
  };
  listener.resync = [this] { OnResync(); };
  if (absl::Status s = cluster_->Listen(std::move(listener)); !s.ok()) {
    Log(absl::StrCat("cannot follow the other gateways' changes: ", s.ToString()));
  }
  ClusterPass(absl::Now());
}

void Scheduler::OnRemoteChange(const std::string& id, const std::string& progress) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    LiveJob& live = live_[id];
    if (!progress.empty() && live.progress.ParseFromString(progress)) live.has_progress = true;
    ++live.version;
    // A state change made elsewhere (often the end of the job) lets the entry go after
    // live_retention like a finished job's; one that still runs here is kept alive by its worker's
    // next report (TouchLocked), and a dropped entry only costs a watcher one extra read.
    if (progress.empty()) live.ended = absl::Now();
    changed_cv_.notify_all();
  }
  queue_cv_.notify_all();  // it may be a new job to lease
}

void Scheduler::OnResync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++resync_epoch_;
  }
  changed_cv_.notify_all();
  queue_cv_.notify_all();
}

void Scheduler::RenewSharedLease(const std::string& worker_id, const std::string& job_id,
                                 int attempt) {
  if (cluster_ == nullptr) return;
  const absl::Time now = absl::Now();
  {
    // Often enough that a lease never lapses while its worker reports, rarely enough that a
    // worker's per-step progress reports do not each cost a write.
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = workers_.find(worker_id);
    if (it == workers_.end()) return;
    auto lease = std::find_if(it->second.leases.begin(), it->second.leases.end(),
                              [&](const LeaseRef& l) { return l.job_id == job_id; });
    if (lease == it->second.leases.end()) return;
    if (now - lease->renewed < options_.worker_timeout / 4) return;
    lease->renewed = now;
  }
  if (absl::Status s = cluster_->RenewLease(job_id, attempt, worker_id, now);
      !s.ok() && s.code() != absl::StatusCode::kFailedPrecondition) {
    Log(absl::StrCat("cannot renew the lease of job ", job_id, ": ", s.ToString()));
  }
}

void Scheduler::PublishWorker(const std::string& worker_id, bool force) {
  if (cluster_ == nullptr) return;
  const absl::Time now = absl::Now();
  std::vector<v1::ModelDescription> models;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = workers_.find(worker_id);
    if (it == workers_.end()) return;
    if (!force && now - it->second.published < options_.worker_timeout / 4) return;
    it->second.published = now;
    models = it->second.models;
  }
  if (absl::Status s = cluster_->PutWorker(worker_id, models, now); !s.ok()) {
    Log(absl::StrCat("cannot record worker '", worker_id, "' in the store: ", s.ToString()));
  }
}

void Scheduler::ClusterPass(absl::Time now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_cluster_pass_ < options_.heartbeat_interval) return;
    last_cluster_pass_ = now;
  }
  absl::StatusOr<std::vector<JobRecord>> expired =
      cluster_->RequeueExpiredLeases(now - options_.worker_timeout, options_.max_attempts, now);
  if (expired.ok()) {
    for (const JobRecord& job : *expired) {
      Log(absl::StrCat("job ", job.id, ": lease of worker '", job.worker_id, "' expired; now ",
                       v1::Job::State_Name(job.state)));
      if (metrics_ != nullptr && job.state == v1::Job::QUEUED) metrics_->requeued.Increment();
      if (metrics_ != nullptr && IsTerminal(job.state)) metrics_->finished[job.state]->Increment();
      std::lock_guard<std::mutex> lock(mu_);
      TouchLocked(job.id, IsTerminal(job.state));
    }
    if (!expired->empty()) queue_cv_.notify_all();
  }
  absl::StatusOr<std::map<std::string, std::vector<v1::ModelDescription>>> live =
      cluster_->LiveWorkers(now - options_.worker_timeout);
  if (live.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    remote_workers_ = *std::move(live);
  }
}

}  // namespace reel::gateway
