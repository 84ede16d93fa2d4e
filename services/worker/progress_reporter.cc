#include "services/worker/progress_reporter.h"

#include "grpcpp/client_context.h"
#include "services/common/client.h"

namespace reel::worker {

ProgressReporter::ProgressReporter(v1::WorkerService::StubInterface& stub, std::string token,
                                   std::string worker_id, std::string job_id, int attempt,
                                   absl::Duration rpc_timeout)
    : stub_(stub),
      token_(std::move(token)),
      worker_id_(std::move(worker_id)),
      job_id_(std::move(job_id)),
      attempt_(attempt),
      rpc_timeout_(rpc_timeout),
      thread_([this] { Loop(); }) {}

ProgressReporter::~ProgressReporter() { Finish(absl::ZeroDuration()); }

void ProgressReporter::Update(const v1::Progress& progress, double step_seconds) {
  progress_ = progress;
  std::lock_guard<std::mutex> lock(mu_);
  pending_progress_ = progress;
  if (step_seconds > 0) pending_steps_.push_back(step_seconds);
  dirty_ = true;
  cv_.notify_all();
}

void ProgressReporter::AddPreview(v1::Preview preview) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_previews_.push_back(std::move(preview));
  dirty_ = true;
  cv_.notify_all();
}

void ProgressReporter::SetPlayableBytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  playable_bytes_ = bytes;
  dirty_ = true;
  cv_.notify_all();
}

void ProgressReporter::Finish(absl::Duration timeout) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, absl::ToChronoTime(absl::Now() + timeout),
                   [&] { return (!dirty_ && !in_flight_) || lease_lost_.load(); });
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ProgressReporter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || dirty_; });
    if (stop_) return;
    v1::ReportProgressRequest request;
    request.set_worker_id(worker_id_);
    request.set_job_id(job_id_);
    request.set_attempt(attempt_);
    *request.mutable_progress() = pending_progress_;
    request.mutable_progress()->set_playable_bytes(playable_bytes_);
    for (v1::Preview& p : pending_previews_) *request.add_previews() = std::move(p);
    for (double s : pending_steps_) request.add_step_seconds(s);
    pending_previews_.clear();
    pending_steps_.clear();
    dirty_ = false;
    in_flight_ = true;
    lock.unlock();

    grpc::ClientContext context;
    service::Prepare(context, token_, rpc_timeout_);
    v1::ReportProgressResponse response;
    const grpc::Status status = stub_.ReportProgress(&context, request, &response);
    if (status.ok()) {
      if (response.cancel()) cancel_ = true;
    } else if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
               status.error_code() == grpc::StatusCode::NOT_FOUND) {
      lease_lost_ = true;
      cancel_ = true;
    }
    // Other errors (gateway restarting, a timeout) drop this report; the next one carries the
    // latest progress anyway, and the heartbeat keeps the lease alive.

    lock.lock();
    in_flight_ = false;
    cv_.notify_all();
  }
}

}  // namespace reel::worker
