#include "services/worker/worker.h"

#include <malloc.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "services/common/client.h"
#include "services/common/limits.h"
#include "services/common/log.h"
#include "services/common/result_files.h"
#include "services/common/status.h"
#include "services/worker/preview_sink.h"
#include "services/worker/progress_reporter.h"
#include "services/worker/request_mapping.h"

namespace reel::worker {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
constexpr absl::Duration kReporterFlush = absl::Seconds(2);

// Worth another try: the gateway is unreachable or restarting, or its store is momentarily unable
// to record (RESOURCE_EXHAUSTED: disk full; ABORTED: a conflicting transaction).
bool Retryable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
      return true;
    default:
      return false;
  }
}

}  // namespace

Worker::Worker(std::shared_ptr<grpc::Channel> channel, Renderer& renderer, SinkFactory sinks,
               WorkerOptions options)
    : channel_(std::move(channel)),
      stub_(v1::WorkerService::NewStub(channel_)),
      renderer_(renderer),
      sinks_(std::move(sinks)),
      options_(std::move(options)),
      worker_id_(options_.worker_id) {}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  lease_thread_ = std::thread([this] { LeaseLoop(); });
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
}

void Worker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !lease_thread_.joinable()) return;
    stop_ = true;
    if (lease_context_ != nullptr) lease_context_->TryCancel();
    cancel_ = true;  // a running job stops within a step and is released
  }
  cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

bool Worker::WaitUntilRegistered(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, absl::ToChronoTime(absl::Now() + timeout),
                        [&] { return registered_; });
}

std::string Worker::worker_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_id_;
}

void Worker::SleepFor(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, absl::ToChronoTime(absl::Now() + d), [&] { return stop_; });
}

absl::Status Worker::Register() {
  v1::RegisterWorkerRequest request;
  {
    std::lock_guard<std::mutex> lock(mu_);
    request.set_worker_id(worker_id_);
  }
  v1::ModelDescription* model = request.add_models();
  *model = DescribeModel(renderer_.info());
  model->set_memory_limit_bytes(options_.memory_limit_bytes);
  grpc::ClientContext context;
  service::Prepare(context, options_.token, options_.rpc_timeout);
  v1::RegisterWorkerResponse response;
  const grpc::Status status = stub_->Register(&context, request, &response);
  if (!status.ok()) return service::FromGrpc(status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_id_ = response.worker_id();
    heartbeat_interval_ = absl::Milliseconds(std::max(10, response.heartbeat_interval_ms()));
    registered_ = true;
  }
  cv_.notify_all();
  return absl::OkStatus();
}

void Worker::LeaseLoop() {
  absl::Duration backoff = kMinBackoff;
  for (;;) {
    bool registered = false;
    std::string worker_id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_ || retired_) return;
      registered = registered_;
      worker_id = worker_id_;
    }
    if (!registered) {
      if (absl::Status s = Register(); !s.ok()) {
        if (s.code() == absl::StatusCode::kUnauthenticated) {
          std::fprintf(stderr, "reel-worker: the gateway refused the token: %s\n",
                       std::string(s.message()).c_str());
        }
        SleepFor(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
      }
      continue;
    }
    grpc::ClientContext context;
    service::Prepare(context, options_.token, options_.lease_wait + options_.rpc_timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      lease_context_ = &context;
    }
    v1::LeaseJobRequest request;
    request.set_worker_id(worker_id);
    request.set_wait_ms(static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(options_.lease_wait), service::kMaxLeaseWaitMs)));
    v1::LeaseJobResponse lease;
    const grpc::Status status = stub_->LeaseJob(&context, request, &lease);
    {
      std::lock_guard<std::mutex> lock(mu_);
      lease_context_ = nullptr;
    }
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        std::lock_guard<std::mutex> lock(mu_);
        registered_ = false;  // the gateway forgot us (restart or timeout): register again
      } else {
        SleepFor(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
      }
      continue;
    }
    backoff = kMinBackoff;
    if (!lease.job_id().empty()) RunJob(lease);
  }
}

void Worker::HeartbeatLoop() {
  for (;;) {
    absl::Duration interval;
    v1::HeartbeatRequest request;
    bool registered = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      interval = heartbeat_interval_;
      registered = registered_;
    }
    SleepFor(interval);
    if (!registered) continue;  // the lease loop registers first
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      request.set_worker_id(worker_id_);
      request.set_job_id(current_.job_id);
      request.set_attempt(current_.attempt);
    }
    grpc::ClientContext context;
    service::Prepare(context, options_.token, options_.rpc_timeout);
    v1::HeartbeatResponse response;
    if (!stub_->Heartbeat(&context, request, &response).ok()) continue;
    if (!response.registered()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        registered_ = false;
      }
      // The lease loop may be busy rendering for minutes: register from here so the gateway knows
      // us.
      (void)Register();
    }
    if (response.cancel()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (current_.job_id == request.job_id() && current_.attempt == request.attempt()) {
        cancel_ = true;
      }
    }
  }
}

absl::Status Worker::SendFinish(v1::FinishJobRequest request) {
  const absl::Time give_up = absl::Now() + options_.finish_retry_budget;
  absl::Duration backoff = kMinBackoff;
  for (;;) {
    grpc::ClientContext context;
    service::Prepare(context, options_.token, options_.rpc_timeout);
    v1::FinishJobResponse response;
    const grpc::Status status = stub_->FinishJob(&context, request, &response);
    if (status.ok() || !Retryable(status) || absl::Now() + backoff > give_up) {
      return service::FromGrpc(status);
    }
    absl::SleepFor(
        backoff);  // not SleepFor(): a stopping worker still owes the gateway this report
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

void Worker::RunJob(const v1::LeaseJobResponse& lease) {
  std::string worker_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = {lease.job_id(), lease.attempt()};
    cancel_ = stop_;
    worker_id = worker_id_;
  }
  v1::FinishJobRequest finish;
  finish.set_worker_id(worker_id);
  finish.set_job_id(lease.job_id());
  finish.set_attempt(lease.attempt());
  auto done = [&] {
    // A large job leaves the allocator holding its peak (freed chunks of its arenas, pinned by a
    // few live ones); hand them back so that an idle worker's RSS returns close to its idle level.
    malloc_trim(0);
    std::lock_guard<std::mutex> lock(mu_);
    current_ = {};
    jobs_finished_.fetch_add(1);
  };

  absl::StatusOr<RenderRequest> resolved = renderer_.Resolve(ToRenderRequest(lease.request()));
  if (!resolved.ok()) {
    finish.mutable_error()->set_code(static_cast<int>(resolved.status().code()));
    finish.mutable_error()->set_message(std::string(resolved.status().message()));
    (void)SendFinish(finish);
    done();
    return;
  }
  *finish.mutable_resolved_request() = WithResolved(lease.request(), *resolved);
  const std::string format = service::ContainerFormat(
      lease.request().kind() == v1::GenerateRequest::IMAGE, lease.request().output_format());
  const std::string file = service::ResultFileName(lease.job_id(), lease.attempt(), format);
  const std::string path = (std::filesystem::path(options_.result_dir) / file).string();

  ProgressReporter reporter(*stub_, options_.token, worker_id, lease.job_id(), lease.attempt(),
                            options_.rpc_timeout);
  std::unique_ptr<FrameSink> sink = sinks_(path);
  PreviewSink tee(*sink, options_.preview_max_side,
                  [&reporter](v1::Preview p) { reporter.AddPreview(std::move(p)); });
  // A progressive sink (mp4/webm) leaves a playable prefix in the partial file after each block:
  // its size tells followers (FetchResult follow) how far they can stream.
  const std::string partial =
      (std::filesystem::path(options_.result_dir) /
       service::PartialResultFileName(lease.job_id(), lease.attempt(), format))
          .string();
  tee.set_on_block([&reporter, &partial] {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(partial, ec);
    if (!ec) reporter.SetPlayableBytes(static_cast<int64_t>(bytes));
  });
  absl::Status status = tee.Open(SpecFor(*resolved, renderer_.info(), format));
  absl::Time last_step = absl::Now();
  auto on_progress = [&](const RenderProgress& p) {
    const absl::Time now = absl::Now();
    reporter.Update(ToProgress(p), absl::ToDoubleSeconds(now - last_step));
    last_step = now;
    if (reporter.cancel_requested()) cancel_ = true;
  };
  if (status.ok()) status = renderer_.Render(*resolved, tee, on_progress, &cancel_);
  absl::StatusOr<SinkResult> result = absl::UnknownError("not closed");
  if (status.ok()) {
    result = tee.Close();
    status = result.status();
  } else {
    tee.Abort();
  }
  reporter.Finish(kReporterFlush);

  std::error_code ignored;
  if (reporter.lease_lost()) {
    // Someone else owns the job now; our output must not linger (the name is ours alone).
    std::filesystem::remove(path, ignored);
    done();
    return;
  }
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stop_;
  }
  if (status.ok()) {
    v1::FinishedResult* r = finish.mutable_result();
    r->set_file(file);
    r->mutable_ref()->set_size_bytes(result->bytes);
    r->mutable_ref()->set_mime_type(result->mime_type.empty() ? service::FormatMimeType(format)
                                                              : result->mime_type);
    r->mutable_ref()->set_frames(result->frames);
    r->mutable_ref()->set_width(resolved->width);
    r->mutable_ref()->set_height(resolved->height);
  } else if (status.code() == absl::StatusCode::kCancelled) {
    if (stopping && !reporter.cancel_requested()) {
      finish.set_released(true);
    } else {
      finish.set_cancelled(true);
    }
  } else if (status.code() == absl::StatusCode::kAborted) {
    // The renderer cannot run jobs here any more (a worker group lost a rank): the job goes back
    // to the queue without penalty, for a healthy worker, and this one leases nothing more.
    finish.set_released(true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      retired_ = true;
    }
    service::LogLine("reel-worker", absl::StrCat("the renderer can take no more jobs (",
                                                 status.message(), "); leasing stopped"));
  } else {
    finish.mutable_error()->set_code(static_cast<int>(status.code()));
    finish.mutable_error()->set_message(std::string(status.message()));
  }
  finish.set_encode_seconds(tee.encode_seconds());
  finish.set_encoded_frames(tee.frames());
  if (absl::Status sent = SendFinish(finish); !sent.ok()) {
    // The gateway could not record the outcome. Dropping the job here is safe: from the next
    // heartbeats on it sees that this worker no longer holds the lease and re-queues the job.
    service::LogLine(
        "reel-worker",
        absl::StrCat("gave up reporting job ", lease.job_id(), " attempt ", lease.attempt(), " (",
                     sent.ToString(), "); the gateway will re-queue it"));
    if (status.ok()) std::filesystem::remove(path, ignored);  // nobody will point at this file
  }
  done();
}

}  // namespace reel::worker
