#include "services/gateway/job_convert.h"

#include "google/protobuf/util/time_util.h"

namespace reel::gateway {
namespace {

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  *out = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(absl::ToUnixMillis(t));
}

}  // namespace

bool IsTerminal(JobState s) {
  return s == v1::Job::SUCCEEDED || s == v1::Job::FAILED || s == v1::Job::CANCELLED;
}

v1::Job ToJobProto(const JobRecord& r, const v1::Progress* live_progress) {
  v1::Job job;
  job.set_id(r.id);
  job.set_state(r.state);
  *job.mutable_request() = r.request;
  *job.mutable_progress() = live_progress != nullptr ? *live_progress : r.progress;
  SetTime(r.create_time, job.mutable_create_time());
  if (r.start_time != absl::InfinitePast()) SetTime(r.start_time, job.mutable_start_time());
  if (r.end_time != absl::InfinitePast()) SetTime(r.end_time, job.mutable_end_time());
  SetTime(r.update_time, job.mutable_update_time());
  if (r.error_code != 0 || !r.error_message.empty()) {
    job.mutable_error()->set_code(r.error_code);
    job.mutable_error()->set_message(r.error_message);
  }
  if (r.state == v1::Job::SUCCEEDED) *job.mutable_result() = r.result;
  job.set_attempts(r.attempts);
  job.set_cancel_requested(r.cancel_requested && r.state == v1::Job::RUNNING);
  job.set_worker_id(r.worker_id);
  job.set_owner(r.owner);
  return job;
}

}  // namespace reel::gateway
