#pragma once
// The state table of job_store.h as plain functions on a JobRecord, shared by every JobStore: a
// store locks the row, checks, calls one of these, and writes the record back in the same
// transaction. Keeping the rules here means SQLite and PostgreSQL cannot drift apart.
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

absl::Status NoSuchJob(const std::string& id);
// FAILED_PRECONDITION: `job` is not RUNNING under lease (attempt, worker_id).
absl::Status NotRunningUnder(const JobRecord& job, int attempt, const std::string& worker_id);
// FAILED_PRECONDITION unless `job` is finished (Delete).
absl::Status CheckDeletable(const JobRecord& job);

// QUEUED → RUNNING for `worker_id`, attempts + 1.
void StartLease(JobRecord& job, const std::string& worker_id, absl::Time now);
// RUNNING → completion.state with its error, result, resolved request and progress.
void ApplyCompletion(JobRecord& job, const Completion& completion, absl::Time now);
// Cancel: QUEUED → CANCELLED, RUNNING → cancel_requested. Returns whether `job` changed (false for
// CANCELLED or a repeated request); FAILED_PRECONDITION for SUCCEEDED/FAILED.
absl::StatusOr<bool> ApplyCancel(JobRecord& job, absl::Time now);
// A RUNNING lease taken back: CANCELLED when cancel was requested, FAILED when `penalize` and
// attempts >= max_attempts, else QUEUED.
void ApplyRequeue(JobRecord& job, const std::string& reason, bool penalize, int max_attempts,
                  absl::Time now);

}  // namespace reel::gateway
