#include "services/gateway/job_transitions.h"

#include "absl/strings/str_cat.h"
#include "services/gateway/job_convert.h"

namespace reel::gateway {

absl::Status NoSuchJob(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
}

absl::Status NotRunningUnder(const JobRecord& job, int attempt, const std::string& worker_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "job ", job.id, " is ", v1::Job::State_Name(job.state), " (attempt ", job.attempts,
      ", worker '", job.worker_id, "'), not RUNNING under lease attempt ", attempt, " of worker '",
      worker_id, "'"));
}

absl::Status CheckDeletable(const JobRecord& job) {
  if (IsTerminal(job.state)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("job ", job.id, " is ", v1::Job::State_Name(job.state),
                   "; only a finished job can be deleted (cancel it first)"));
}

void StartLease(JobRecord& job, const std::string& worker_id, absl::Time now) {
  job.state = v1::Job::RUNNING;
  job.attempts += 1;
  job.worker_id = worker_id;
  job.start_time = now;
  job.update_time = now;
}

void ApplyCompletion(JobRecord& job, const Completion& completion, absl::Time now) {
  job.state = completion.state;
  job.error_code = completion.error_code;
  job.error_message = completion.error_message;
  job.result_file = completion.result_file;
  job.result = completion.result;
  if (completion.resolved_request) job.request = *completion.resolved_request;
  if (completion.progress) job.progress = *completion.progress;
  job.end_time = now;
  job.update_time = now;
}

absl::StatusOr<bool> ApplyCancel(JobRecord& job, absl::Time now) {
  switch (job.state) {
    case v1::Job::QUEUED:
      job.state = v1::Job::CANCELLED;
      job.error_code = static_cast<int>(absl::StatusCode::kCancelled);
      job.error_message = "cancelled while queued";
      job.end_time = now;
      break;
    case v1::Job::RUNNING:
      if (job.cancel_requested) return false;
      job.cancel_requested = true;
      break;
    case v1::Job::CANCELLED:
      return false;
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job.id, " already finished (", v1::Job::State_Name(job.state), ")"));
  }
  job.update_time = now;
  return true;
}

void ApplyRequeue(JobRecord& job, const std::string& reason, bool penalize, int max_attempts,
                  absl::Time now) {
  if (job.cancel_requested) {
    job.state = v1::Job::CANCELLED;
    job.error_code = static_cast<int>(absl::StatusCode::kCancelled);
    job.error_message = absl::StrCat("cancelled; its worker stopped: ", reason);
    job.end_time = now;
  } else if (penalize && job.attempts >= max_attempts) {
    job.state = v1::Job::FAILED;
    job.error_code = static_cast<int>(absl::StatusCode::kUnavailable);
    job.error_message = absl::StrCat("gave up after ", job.attempts, " attempts; last: ", reason);
    job.end_time = now;
  } else {
    job.state = v1::Job::QUEUED;
  }
  job.update_time = now;
}

}  // namespace reel::gateway
