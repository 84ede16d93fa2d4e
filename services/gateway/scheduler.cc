#include "services/gateway/scheduler.h"

#include <algorithm>
#include <filesystem>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "pipeline/tensor/status_macros.h"
#include "services/common/limits.h"
#include "services/common/result_files.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/validation.h"

namespace reel::gateway {
namespace {

constexpr absl::Duration kWaitSlice = absl::Milliseconds(250);  // re-check cancellation this often

std::string PageToken(int64_t before_seq) {
  return before_seq == 0 ? "" : absl::WebSafeBase64Escape(absl::StrCat("v1:", before_seq));
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  std::string raw;
  int64_t seq = 0;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.rfind("v1:", 0) != 0 ||
      !absl::SimpleAtoi(absl::string_view(raw).substr(3), &seq) || seq <= 0) {
    return absl::InvalidArgumentError("page_token: not a token this server issued");
  }
  return seq;
}

}  // namespace

std::string NewJobId() {
  absl::BitGen gen;
  return absl::StrFormat("j%016x", absl::Uniform<uint64_t>(gen));
}

uint64_t RequestHash(const v1::GenerateRequest& request) {
  v1::GenerateRequest copy = request;
  copy.clear_idempotency_key();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    copy.SerializeToCodedStream(&coded);
  }
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Scheduler::Scheduler(JobStore& store, SchedulerOptions options, GatewayMetrics* metrics)
    : store_(store), options_(std::move(options)), metrics_(metrics) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  REEL_ASSIGN_OR_RETURN(std::vector<JobRecord> recovered,
                        store_.RecoverRunning(options_.max_attempts, absl::Now()));
  if (metrics_ != nullptr) metrics_->requeued.Increment(static_cast<double>(recovered.size()));
  liveness_ = std::thread([this] { LivenessLoop(); });
  return absl::OkStatus();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_cv_.notify_all();
  queue_cv_.notify_all();
  stop_cv_.notify_all();
  if (liveness_.joinable()) liveness_.join();
}

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

void Scheduler::TouchLocked(const std::string& id, bool terminal) {
  LiveJob& live = live_[id];
  ++live.version;
  if (terminal) live.ended = absl::Now();
  changed_cv_.notify_all();
}

v1::Job Scheduler::ToProto(const JobRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = live_.find(record.id);
  const bool live =
      record.state == v1::Job::RUNNING && it != live_.end() && it->second.has_progress;
  return ToJobProto(record, live ? &it->second.progress : nullptr);
}

absl::StatusOr<v1::Job> Scheduler::Submit(const v1::GenerateRequest& request) {
  JobRecord record;
  record.request = request;
  record.request_hash = RequestHash(request);
  if (!record.request.has_seed()) {
    absl::BitGen gen;
    record.request.set_seed(absl::Uniform<uint64_t>(gen));
  }
  record.idempotency_key = request.idempotency_key();
  record.priority = request.priority();
  record.model = request.model();
  record.create_time = absl::Now();
  bool existed = false;
  absl::StatusOr<JobRecord> job;
  for (int tries = 0; tries < 3;
       ++tries) {  // a random id collision is astronomically rare; retry it
    record.id = NewJobId();
    job = store_.Insert(record, options_.max_queued_jobs, &existed);
    if (job.ok() || job.status().code() != absl::StatusCode::kAlreadyExists) break;
  }
  if (!job.ok()) return job.status();
  if (existed) {
    if (job->request_hash != record.request_hash) {
      return absl::AlreadyExistsError(absl::StrCat("idempotency_key '", request.idempotency_key(),
                                                   "' was used for job ", job->id,
                                                   " with a different request"));
    }
    return ToProto(*job);
  }
  if (metrics_ != nullptr) metrics_->submitted.Increment();
  {
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(job->id, false);
  }
  queue_cv_.notify_all();
  return ToProto(*job);
}

absl::StatusOr<v1::Job> Scheduler::Get(const std::string& id) {
  REEL_ASSIGN_OR_RETURN(JobRecord job, store_.Get(id));
  return ToProto(job);
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::List(const v1::ListJobsRequest& request) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  ListQuery query;
  query.page_size = request.page_size() == 0 ? service::kDefaultPageSize
                                             : std::min(request.page_size(), service::kMaxPageSize);
  REEL_ASSIGN_OR_RETURN(query.before_seq, ParsePageToken(request.page_token()));
  for (int s : request.states()) {
    if (!v1::Job::State_IsValid(s) || s == v1::Job::STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("states: unknown state ", s));
    }
    query.states.push_back(static_cast<JobState>(s));
  }
  REEL_ASSIGN_OR_RETURN(ListPage page, store_.List(query));
  v1::ListJobsResponse response;
  for (const JobRecord& job : page.jobs) *response.add_jobs() = ToProto(job);
  response.set_next_page_token(PageToken(page.next_before_seq));
  return response;
}

absl::StatusOr<v1::Job> Scheduler::Cancel(const std::string& id) {
  REEL_ASSIGN_OR_RETURN(JobRecord before, store_.Get(id));
  REEL_ASSIGN_OR_RETURN(JobRecord job, store_.Cancel(id, absl::Now()));
  if (metrics_ != nullptr && before.state == v1::Job::QUEUED && job.state == v1::Job::CANCELLED) {
    metrics_->finished[v1::Job::CANCELLED]->Increment();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(id, IsTerminal(job.state));
  }
  return ToProto(job);
}

absl::StatusOr<std::pair<std::string, v1::Job>> Scheduler::ResultPath(const std::string& id) {
  REEL_ASSIGN_OR_RETURN(JobRecord job, store_.Get(id));
  if (job.state != v1::Job::SUCCEEDED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", id, " is ", v1::Job::State_Name(job.state), "; only a SUCCEEDED job has a result"));
  }
  return std::make_pair((std::filesystem::path(options_.result_dir) / job.result_file).string(),
                        ToProto(job));
}

uint64_t Scheduler::Version(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = live_.find(id);
  return it == live_.end() ? 0 : it->second.version;
}

uint64_t Scheduler::WaitForChange(const std::string& id, uint64_t seen, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto version = [&] {
    const auto it = live_.find(id);
    return it == live_.end() ? 0 : it->second.version;
  };
  changed_cv_.wait_until(lock, absl::ToChronoTime(deadline),
                         [&] { return stopping_ || version() > seen; });
  return version();
}

std::vector<v1::Preview> Scheduler::PreviewsSince(const std::string& id, size_t from,
                                                  size_t* next) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Preview> out;
  *next = from;
  const auto it = live_.find(id);
  if (it == live_.end()) return out;
  const LiveJob& live = it->second;
  const size_t first = std::max(from, live.previews_dropped);
  for (size_t i = first; i < live.previews_dropped + live.previews.size(); ++i) {
    out.push_back(live.previews[i - live.previews_dropped]);
  }
  *next = live.previews_dropped + live.previews.size();
  return out;
}

std::vector<v1::ModelDescription> Scheduler::ServedModels() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::ModelDescription> models;
  for (const auto& [id, worker] : workers_) {
    if (worker.registered) models.insert(models.end(), worker.models.begin(), worker.models.end());
  }
  return models;
}

int64_t Scheduler::QueuedJobs() {
  absl::StatusOr<std::map<JobState, int64_t>> counts = store_.CountByState();
  if (!counts.ok()) return -1;
  const auto it = counts->find(v1::Job::QUEUED);
  return it == counts->end() ? 0 : it->second;
}

void Scheduler::AddLeaseLocked(const std::string& worker_id, const std::string& job_id,
                               int attempt) {
  WorkerInfo& worker = workers_[worker_id];
  if (worker.last_seen == absl::Time()) worker.last_seen = absl::Now();
  for (LeaseRef& lease : worker.leases) {
    if (lease.job_id == job_id) {
      lease.attempt = attempt;
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
  std::lock_guard<std::mutex> lock(mu_);
  AddLeaseLocked(worker_id, job_id, attempt);
  return job.cancel_requested;
}

absl::StatusOr<v1::HeartbeatResponse> Scheduler::Heartbeat(const v1::HeartbeatRequest& request) {
  v1::HeartbeatResponse response;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = workers_.find(request.worker_id());
    response.set_registered(it != workers_.end() && it->second.registered);
    if (it != workers_.end()) it->second.last_seen = absl::Now();
  }
  if (!request.job_id().empty()) {
    absl::StatusOr<bool> cancel =
        ConfirmLease(request.worker_id(), request.job_id(), request.attempt());
    // A lease that is gone (or a job that vanished) is as good as cancelled for this worker.
    response.set_cancel(!cancel.ok() || *cancel);
  }
  return response;
}

absl::StatusOr<v1::LeaseJobResponse> Scheduler::Lease(const v1::LeaseJobRequest& request,
                                                      const std::function<bool()>& cancelled) {
  std::vector<std::string> models;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = workers_.find(request.worker_id());
    if (it == workers_.end() || !it->second.registered) {
      return absl::FailedPreconditionError(absl::StrCat(
          "worker '", request.worker_id(), "' is not registered; call Register first"));
    }
    for (const v1::ModelDescription& m : it->second.models) models.push_back(m.name());
  }
  const int wait_ms = std::clamp(request.wait_ms(), 0, service::kMaxLeaseWaitMs);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(wait_ms);
  v1::LeaseJobResponse response;
  for (;;) {
    if (stopping()) return absl::UnavailableError("the gateway is shutting down");
    const absl::Time now = absl::Now();
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> job,
                          store_.LeaseNext(request.worker_id(), models, now));
    if (job) {
      if (metrics_ != nullptr)
        metrics_->queue_wait_seconds.Observe(absl::ToDoubleSeconds(now - job->create_time));
      std::lock_guard<std::mutex> lock(mu_);
      AddLeaseLocked(request.worker_id(), job->id, job->attempts);
      workers_[request.worker_id()].last_seen = now;
      LiveJob& live = live_[job->id];
      live.has_progress = false;
      live.progress.Clear();
      TouchLocked(job->id, false);
      response.set_job_id(job->id);
      response.set_attempt(job->attempts);
      *response.mutable_request() = job->request;
      return response;
    }
    if (now >= deadline || cancelled()) return response;
    std::unique_lock<std::mutex> lock(mu_);
    queue_cv_.wait_until(lock, absl::ToChronoTime(std::min(deadline, now + kWaitSlice)));
  }
}

absl::StatusOr<v1::ReportProgressResponse> Scheduler::ReportProgress(
    const v1::ReportProgressRequest& request) {
  REEL_ASSIGN_OR_RETURN(bool cancel,
                        ConfirmLease(request.worker_id(), request.job_id(), request.attempt()));
  if (metrics_ != nullptr) {
    for (double s : request.step_seconds()) metrics_->step_seconds.Observe(s);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    LiveJob& live = live_[request.job_id()];
    live.has_progress = true;
    live.progress = request.progress();
    for (const v1::Preview& p : request.previews()) live.previews.push_back(p);
    const size_t cap = static_cast<size_t>(std::max(1, options_.max_previews_per_job));
    if (live.previews.size() > cap) {
      const size_t drop = live.previews.size() - cap;
      live.previews.erase(live.previews.begin(),
                          live.previews.begin() + static_cast<ptrdiff_t>(drop));
      live.previews_dropped += drop;
    }
    TouchLocked(request.job_id(), false);
  }
  v1::ReportProgressResponse response;
  response.set_cancel(cancel);
  return response;
}

absl::Status Scheduler::Finish(const v1::FinishJobRequest& request) {
  const absl::Time now = absl::Now();
  absl::StatusOr<JobRecord> done;
  if (request.outcome_case() == v1::FinishJobRequest::kReleased) {
    done = store_.Requeue(request.job_id(), request.attempt(),
                          absl::StrCat("worker '", request.worker_id(), "' released it"),
                          /*penalize=*/false, options_.max_attempts, now);
    if (done.ok() && metrics_ != nullptr) metrics_->requeued.Increment();
  } else {
    // Make sure the lease is ours first (this also reclaims a job re-queued by a gateway restart).
    REEL_RETURN_IF_ERROR(
        ConfirmLease(request.worker_id(), request.job_id(), request.attempt()).status());
    Completion completion;
    if (request.has_resolved_request()) completion.resolved_request = request.resolved_request();
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = live_.find(request.job_id());
      if (it != live_.end() && it->second.has_progress) completion.progress = it->second.progress;
    }
    switch (request.outcome_case()) {
      case v1::FinishJobRequest::kResult: {
        REEL_ASSIGN_OR_RETURN(JobRecord job, store_.Get(request.job_id()));
        const std::string expected = service::ResultFileName(
            job.id, request.attempt(),
            ResolvedFormat(completion.resolved_request.value_or(job.request)));
        if (request.result().file() != expected) {
          return absl::InvalidArgumentError(absl::StrCat("result.file: '", request.result().file(),
                                                         "', expected '", expected, "'"));
        }
        std::error_code ec;
        const auto path = std::filesystem::path(options_.result_dir) / expected;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec) {
          // The worker wrote somewhere this gateway cannot see (e.g. volumes not shared): fail the
          // job with a reason instead of promising a result nobody can fetch.
          completion.state = v1::Job::FAILED;
          completion.error_code = static_cast<int>(absl::StatusCode::kInternal);
          completion.error_message =
              absl::StrCat("the worker reported ", expected, " but the gateway cannot read it in ",
                           options_.result_dir, ": ", ec.message());
          break;
        }
        completion.state = v1::Job::SUCCEEDED;
        completion.result_file = expected;
        completion.result = request.result().ref();
        completion.result.set_size_bytes(static_cast<int64_t>(size));
        break;
      }
      case v1::FinishJobRequest::kError:
        completion.state = v1::Job::FAILED;
        completion.error_code = request.error().code() == 0
                                    ? static_cast<int>(absl::StatusCode::kUnknown)
                                    : request.error().code();
        completion.error_message = request.error().message();
        break;
      case v1::FinishJobRequest::kCancelled:
        completion.state = v1::Job::CANCELLED;
        completion.error_code = static_cast<int>(absl::StatusCode::kCancelled);
        completion.error_message = "cancelled while running";
        break;
      default:
        return absl::InvalidArgumentError(
            "outcome: one of result, error, cancelled, released is required");
    }
    done = store_.Finish(request.job_id(), request.attempt(), request.worker_id(), completion, now);
    if (done.ok() && metrics_ != nullptr) {
      metrics_->finished[done->state]->Increment();
      if (done->state == v1::Job::SUCCEEDED) {
        metrics_->job_seconds.Observe(absl::ToDoubleSeconds(now - done->start_time));
      }
      metrics_->encoder_seconds.Increment(request.encode_seconds());
      metrics_->encoder_frames.Increment(static_cast<double>(request.encoded_frames()));
      if (request.encode_seconds() > 0 && request.encoded_frames() > 0) {
        metrics_->encoder_frames_per_second.Observe(static_cast<double>(request.encoded_frames()) /
                                                    request.encode_seconds());
      }
    }
  }
  if (!done.ok()) return done.status();
  if (IsTerminal(done->state) && done->attempts > 1) RemoveStaleAttemptFiles(*done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    DropLeaseLocked(request.worker_id(), request.job_id());
    TouchLocked(request.job_id(), IsTerminal(done->state));
  }
  if (done->state == v1::Job::QUEUED) queue_cv_.notify_all();
  return absl::OkStatus();
}

void Scheduler::RemoveStaleAttemptFiles(const JobRecord& job) {
  // Earlier attempts of a re-queued job belong to workers that died (or gave up) mid-render and may
  // have left a partial file; once the job is finished none of them can matter any more.
  const std::string prefix = job.id + "-";
  std::error_code ec;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(options_.result_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name != job.result_file) stale.push_back(entry.path());
  }
  for (const auto& path : stale) std::filesystem::remove(path, ec);
}

void Scheduler::ReapLostWorkers() {
  const absl::Time now = absl::Now();
  std::vector<std::pair<std::string, LeaseRef>> orphaned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (now - it->second.last_seen > options_.worker_timeout) {
        for (const LeaseRef& lease : it->second.leases) orphaned.emplace_back(it->first, lease);
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
  }
  bool requeued = false;
  for (const auto& [worker_id, lease] : orphaned) {
    absl::StatusOr<JobRecord> job =
        store_.Requeue(lease.job_id, lease.attempt,
                       absl::StrCat("worker '", worker_id, "' sent no heartbeat for ",
                                    absl::FormatDuration(options_.worker_timeout)),
                       /*penalize=*/true, options_.max_attempts, now);
    if (!job.ok()) continue;  // it finished or moved on meanwhile
    requeued |= job->state == v1::Job::QUEUED;
    if (metrics_ != nullptr && job->state == v1::Job::QUEUED) metrics_->requeued.Increment();
    if (metrics_ != nullptr && IsTerminal(job->state)) metrics_->finished[job->state]->Increment();
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(lease.job_id, IsTerminal(job->state));
  }
  if (requeued) queue_cv_.notify_all();
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
