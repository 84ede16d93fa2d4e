#include "services/gateway/job_events.h"

#include "google/protobuf/util/message_differencer.h"
#include "services/gateway/job_convert.h"

namespace reel::gateway {

v1::ProgressEvent ProgressOf(const v1::Job& job) {
  v1::ProgressEvent e;
  e.set_state(job.state());
  *e.mutable_progress() = job.progress();
  e.set_attempts(job.attempts());
  e.set_cancel_requested(job.cancel_requested());
  return e;
}

absl::StatusOr<std::optional<v1::JobEvent>> JobEventCursor::Next(absl::Time deadline) {
  if (done_) return std::nullopt;
  v1::JobEvent event;
  if (!started_) {
    // Read the version before the job, so that a change between the two is seen by the first wait.
    version_ = scheduler_.Version(id_);
    absl::StatusOr<v1::Job> job = scheduler_.Get(id_, who_);
    if (!job.ok()) return job.status();
    job_ = *std::move(job);
    started_ = true;
    last_ = ProgressOf(job_);
    *event.mutable_snapshot() = job_;
    return event;
  }
  for (;;) {
    if (previews_) {
      for (v1::Preview& p : scheduler_.PreviewsSince(id_, next_preview_, &next_preview_)) {
        pending_.push_back(std::move(p));
      }
      if (!pending_.empty()) {
        *event.mutable_preview() = std::move(pending_.front());
        pending_.pop_front();
        return event;
      }
    }
    if (IsTerminal(job_.state())) {
      done_ = true;
      *event.mutable_final() = job_;
      return event;
    }
    const v1::ProgressEvent now = ProgressOf(job_);
    if (!google::protobuf::util::MessageDifferencer::Equals(now, last_)) {
      last_ = now;
      *event.mutable_progress() = now;
      return event;
    }
    if (scheduler_.stopping()) return absl::UnavailableError("the server is stopping");
    const uint64_t seen = version_;
    version_ = scheduler_.WaitForChange(id_, seen, deadline);
    if (version_ == seen) return std::nullopt;
    absl::StatusOr<v1::Job> job = scheduler_.Get(id_, who_);
    if (!job.ok()) return job.status();
    job_ = *std::move(job);
  }
}

}  // namespace reel::gateway
