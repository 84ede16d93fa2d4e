#include "services/gateway/scheduler.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "pipeline/tensor/status_macros.h"
#include "services/common/limits.h"
#include "services/common/log.h"
#include "services/common/result_files.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/sqlite.h"
#include "services/gateway/validation.h"

namespace reel::gateway {
namespace {

constexpr absl::Duration kWaitSlice = absl::Milliseconds(250);  // re-check cancellation this often
void Log(absl::string_view message) { service::LogLine("reel-gateway", message); }

// Logs a store failure an operator must act on (disk full, I/O error); returns `status`.
absl::Status LogIfStorageFailure(absl::string_view what, absl::Status status) {
  if (IsStorageFailure(status)) Log(absl::StrCat(what, ": ", status.ToString()));
  return status;
}

absl::Status NoSuchJob(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
}

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
    : store_(store), cluster_(store.cluster()), options_(std::move(options)), metrics_(metrics) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  if (cluster_ != nullptr) {
    // Other gateways' workers hold RUNNING leases that are alive: only leases nobody renews are
    // taken back (ClusterPass), not everything RUNNING.
    StartCluster();
  } else {
    REEL_ASSIGN_OR_RETURN(std::vector<JobRecord> recovered,
                          store_.RecoverRunning(options_.max_attempts, absl::Now()));
    if (metrics_ != nullptr) metrics_->requeued.Increment(static_cast<double>(recovered.size()));
  }
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
  if (cluster_ != nullptr) cluster_->StopListening();
}

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

void Scheduler::TouchLocked(const std::string& id, bool terminal) {
  LiveJob& live = live_[id];
  ++live.version;
  live.ended = terminal ? absl::Now() : absl::InfiniteFuture();
  changed_cv_.notify_all();
}

v1::Job Scheduler::ToProto(const JobRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = live_.find(record.id);
  const bool live =
      record.state == v1::Job::RUNNING && it != live_.end() && it->second.has_progress;
  v1::Job job = ToJobProto(record, live ? &it->second.progress : nullptr);
  if (options_.result_ttl > absl::ZeroDuration() && IsTerminal(record.state) &&
      record.end_time != absl::InfinitePast()) {
    const absl::Time expire = record.end_time + options_.result_ttl;
    job.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(expire));
    job.mutable_expire_time()->set_nanos(static_cast<int32_t>(
        (expire - absl::FromUnixSeconds(absl::ToUnixSeconds(expire))) / absl::Nanoseconds(1)));
  }
  return job;
}

absl::StatusOr<v1::Job> Scheduler::Submit(const v1::GenerateRequest& request,
                                          const service::Principal& who) {
  JobRecord record;
  record.owner = who.name;
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
    job = store_.Insert(record,
                        QueueLimits(options_.max_queued_jobs,
                                    who.name.empty() ? 0 : options_.max_queued_per_client),
                        &existed);
    if (job.ok() || job.status().code() != absl::StatusCode::kAlreadyExists) break;
  }
  if (!job.ok()) return LogIfStorageFailure("Submit: cannot record the job", job.status());
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

absl::StatusOr<JobRecord> Scheduler::VisibleJob(const std::string& id,
                                                const service::Principal& who) {
  absl::StatusOr<JobRecord> job = store_.Get(id);
  if (job.ok() && !who.sees_all_jobs() && job->owner != who.name) return NoSuchJob(id);
  return job;
}

absl::StatusOr<v1::Job> Scheduler::Get(const std::string& id, const service::Principal& who) {
  REEL_ASSIGN_OR_RETURN(JobRecord job, VisibleJob(id, who));
  return ToProto(job);
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::List(const v1::ListJobsRequest& request,
                                                     const service::Principal& who) {
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  ListQuery query;
  query.page_size = request.page_size() == 0 ? service::kDefaultPageSize
                                             : std::min(request.page_size(), service::kMaxPageSize);
  REEL_ASSIGN_OR_RETURN(query.before_seq, ParsePageToken(request.page_token()));
  if (!who.sees_all_jobs()) query.owner = who.name;
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

absl::StatusOr<v1::Job> Scheduler::Cancel(const std::string& id, const service::Principal& who) {
  REEL_ASSIGN_OR_RETURN(JobRecord before, VisibleJob(id, who));
  absl::StatusOr<JobRecord> cancelled = store_.Cancel(id, absl::Now());
  if (!cancelled.ok()) return LogIfStorageFailure("Cancel: cannot record it", cancelled.status());
  const JobRecord& job = *cancelled;
  if (metrics_ != nullptr && before.state == v1::Job::QUEUED && job.state == v1::Job::CANCELLED) {
    metrics_->finished[v1::Job::CANCELLED]->Increment();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(id, IsTerminal(job.state));
  }
  return ToProto(job);
}

absl::StatusOr<std::pair<std::string, v1::Job>> Scheduler::ResultPath(
    const std::string& id, const service::Principal& who) {
  REEL_ASSIGN_OR_RETURN(JobRecord job, VisibleJob(id, who));
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
  return resync_epoch_ + (it == live_.end() ? 0 : it->second.version);
}

uint64_t Scheduler::WaitForChange(const std::string& id, uint64_t seen, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto version = [&] {
    const auto it = live_.find(id);
    return resync_epoch_ + (it == live_.end() ? 0 : it->second.version);
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
  // Each worker once: one that talks to this gateway may be in the shared registry too.
  std::map<std::string, const std::vector<v1::ModelDescription>*> by_worker;
  for (const auto& [id, models] : remote_workers_) by_worker[id] = &models;
  for (const auto& [id, worker] : workers_) {
    if (worker.registered) by_worker[id] = &worker.models;
  }
  std::vector<v1::ModelDescription> models;
  for (const auto& [id, served] : by_worker)
    models.insert(models.end(), served->begin(), served->end());
  return models;
}

std::vector<std::pair<v1::ModelDescription, int>> Scheduler::ModelsWithWorkers() {
  std::map<std::string, std::pair<v1::ModelDescription, int>> by_name;
  for (const v1::ModelDescription& m : ServedModels()) {
    auto [it, inserted] = by_name.try_emplace(m.name(), m, 0);
    ++it->second.second;
    // Report the largest worker's memory (what decides whether a size can run at all).
    if (m.memory_limit_bytes() > it->second.first.memory_limit_bytes()) {
      it->second.first.set_memory_limit_bytes(m.memory_limit_bytes());
    }
  }
  std::vector<std::pair<v1::ModelDescription, int>> out;
  for (auto& [name, entry] : by_name) out.push_back(std::move(entry));
  return out;
}

int64_t Scheduler::QueuedJobs() {
  absl::StatusOr<std::map<JobState, int64_t>> counts = store_.CountByState();
  if (!counts.ok()) return -1;
  const auto it = counts->find(v1::Job::QUEUED);
  return it == counts->end() ? 0 : it->second;
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
  // The first playable bytes of the job: time to first frame, measured from Submit (once; the
  // store read happens only then).
  std::optional<double> first_frame;
  if (request.progress().playable_bytes() > 0) {
    bool seen = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = live_.find(request.job_id());
      seen = it != live_.end() && it->second.time_to_first_frame_seconds >= 0;
    }
    if (!seen) {
      if (absl::StatusOr<JobRecord> job = store_.Get(request.job_id()); job.ok()) {
        first_frame = std::max(0.0, absl::ToDoubleSeconds(absl::Now() - job->create_time));
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    LiveJob& live = live_[request.job_id()];
    live.has_progress = true;
    live.progress = request.progress();
    if (first_frame.has_value() && live.time_to_first_frame_seconds < 0) {
      live.time_to_first_frame_seconds = *first_frame;
      if (metrics_ != nullptr) metrics_->time_to_first_frame_seconds.Observe(*first_frame);
    }
    if (live.time_to_first_frame_seconds >= 0) {
      live.progress.set_time_to_first_frame_seconds(live.time_to_first_frame_seconds);
    }
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
  if (cluster_ != nullptr) {
    // Watchers on the other gateways see the live progress too (best effort: the next report
    // replaces a lost one).
    (void)cluster_->Publish(request.job_id(), request.progress().SerializeAsString());
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
  if (!done.ok()) {
    return LogIfStorageFailure(
        absl::StrCat("FinishJob: cannot record the end of job ", request.job_id(), " attempt ",
                     request.attempt(), " (worker '", request.worker_id(), "')"),
        done.status());
  }
  if (IsTerminal(done->state) && done->attempts > 1) RemoveStaleAttemptFiles(*done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    DropLeaseLocked(request.worker_id(), request.job_id());
    TouchLocked(request.job_id(), IsTerminal(done->state));
  }
  if (done->state == v1::Job::QUEUED) queue_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Scheduler::Delete(const std::string& id, const service::Principal& who) {
  REEL_ASSIGN_OR_RETURN(JobRecord job, VisibleJob(id, who));
  if (!IsTerminal(job.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is ", v1::Job::State_Name(job.state),
                     "; only a finished job can be deleted (cancel it first)"));
  }
  absl::StatusOr<JobRecord> deleted = store_.Delete(id);
  // NOT_FOUND: deleted meanwhile (a retried call, the sweeper, another gateway); the files go too.
  if (!deleted.ok() && deleted.status().code() != absl::StatusCode::kNotFound) {
    return LogIfStorageFailure("Delete: cannot record it", deleted.status());
  }
  RemoveResultFiles(id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    TouchLocked(id, true);
  }
  return deleted.ok() ? absl::OkStatus() : deleted.status();
}

int Scheduler::SweepExpired() {
  if (options_.result_ttl <= absl::ZeroDuration()) return 0;
  int total = 0;
  for (;;) {  // in batches, so that one transaction never holds many rows
    constexpr int kBatch = 100;
    absl::StatusOr<std::vector<JobRecord>> expired =
        store_.DeleteExpired(absl::Now() - options_.result_ttl, kBatch);
    if (!expired.ok()) {
      (void)LogIfStorageFailure("retention: cannot delete expired jobs", expired.status());
      return total;
    }
    for (const JobRecord& job : *expired) {
      RemoveResultFiles(job.id);
      std::lock_guard<std::mutex> lock(mu_);
      TouchLocked(job.id, true);
    }
    total += static_cast<int>(expired->size());
    if (metrics_ != nullptr) metrics_->expired.Increment(static_cast<double>(expired->size()));
    if (static_cast<int>(expired->size()) < kBatch) return total;
  }
}

void Scheduler::RemoveResultFiles(const std::string& id) {
  // Every attempt's file: "<id>-<attempt>.<ext>" (services/common/result_files.h).
  const std::string prefix = id + "-";
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(options_.result_dir, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) files.push_back(entry.path());
  }
  for (const auto& path : files) std::filesystem::remove(path, ec);
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

}  // namespace reel::gateway
