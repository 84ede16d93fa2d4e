#pragma once
// The durable record of every accepted job and the only place its state changes. Every transition
// is a compare-and-set on (state, attempt) inside one transaction, so that a stale worker, a
// retried RPC or a restart can never move a job backwards or finish it twice.
//
// Life of a job:  QUEUED ──LeaseNext──▶ RUNNING ──Finish──▶ SUCCEEDED | FAILED | CANCELLED
//                   ▲   ╲──Cancel──▶ CANCELLED      │
//                   └──── Requeue (worker lost, gateway restart, release) / Reclaim ──┘
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reel/v1/generation.pb.h"

namespace reel::gateway {

using JobState = v1::Job::State;
class GatewayCluster;

struct JobRecord {
  int64_t seq = 0;  // insertion order, assigned by the store
  std::string id;
  std::string owner;  // the principal that submitted it ("" when authentication is off)
  JobState state = v1::Job::QUEUED;
  v1::GenerateRequest
      request;  // as accepted (server-chosen seed filled); resolved values after finish
  uint64_t request_hash = 0;    // of the request as the client sent it (idempotency check)
  std::string idempotency_key;  // "" = none
  int priority = 0;
  std::string model;  // request.model, a column so that leasing can filter on it
  int attempts = 0;   // leases so far; the current lease is (id, attempts)
  std::string worker_id;
  bool cancel_requested = false;
  absl::Time create_time = absl::InfinitePast();
  absl::Time start_time = absl::InfinitePast();  // InfinitePast: never started
  absl::Time end_time = absl::InfinitePast();    // InfinitePast: not finished
  absl::Time update_time = absl::InfinitePast();
  int error_code = 0;  // google.rpc.Code
  std::string error_message;
  std::string result_file;  // "<id>.<ext>" inside the result directory
  v1::ResultRef result;
  v1::Progress progress;  // the last progress persisted (at finish)
};

// How a RUNNING job ended.
struct Completion {
  JobState state = v1::Job::SUCCEEDED;  // SUCCEEDED, FAILED or CANCELLED
  int error_code = 0;
  std::string error_message;
  std::string result_file;
  v1::ResultRef result;
  std::optional<v1::GenerateRequest> resolved_request;
  std::optional<v1::Progress> progress;
};

// Bounds on QUEUED jobs checked by Insert; 0 = unbounded.
struct QueueLimits {
  QueueLimits(int64_t total = 0, int64_t per_owner = 0)  // NOLINT: a bare total converts
      : max_queued(total), max_queued_per_owner(per_owner) {}
  int64_t max_queued;            // over all owners
  int64_t max_queued_per_owner;  // for the record's owner alone
};

struct ListQuery {
  int page_size = 50;
  std::optional<std::string> owner;  // nullopt: every owner's jobs
  int64_t before_seq = 0;            // 0: from the newest
  std::vector<JobState> states;      // empty: all
};

struct ListPage {
  std::vector<JobRecord> jobs;
  int64_t next_before_seq = 0;  // 0: no more
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Inserts `record` as QUEUED (seq, times and attempts are set by the store). When its owner used
  // its idempotency_key before, inserts nothing and returns the earlier job with *existed = true
  // (the caller compares request_hash); keys of other owners never match. RESOURCE_EXHAUSTED
  // naming the limit when `limits` are reached.
  virtual absl::StatusOr<JobRecord> Insert(const JobRecord& record, const QueueLimits& limits,
                                           bool* existed) = 0;
  virtual absl::StatusOr<JobRecord> Get(const std::string& id) = 0;
  virtual absl::StatusOr<ListPage> List(const ListQuery& query) = 0;
  virtual absl::StatusOr<std::map<JobState, int64_t>> CountByState() = 0;

  // The QUEUED job to run next for a worker serving `models` (jobs with model "" or one of them):
  // highest priority first, then oldest. It becomes RUNNING with attempts + 1. nullopt when none.
  virtual absl::StatusOr<std::optional<JobRecord>> LeaseNext(const std::string& worker_id,
                                                             const std::vector<std::string>& models,
                                                             absl::Time now) = 0;

  // RUNNING lease (id, attempt) held by worker_id → completion.state. FAILED_PRECONDITION when the
  // job is not RUNNING under that lease.
  virtual absl::StatusOr<JobRecord> Finish(const std::string& id, int attempt,
                                           const std::string& worker_id,
                                           const Completion& completion, absl::Time now) = 0;

  // QUEUED → CANCELLED; RUNNING → cancel_requested; CANCELLED unchanged; SUCCEEDED/FAILED:
  // FAILED_PRECONDITION. NOT_FOUND for an unknown id.
  virtual absl::StatusOr<JobRecord> Cancel(const std::string& id, absl::Time now) = 0;

  // Takes a RUNNING lease (id, attempt) back: to CANCELLED when cancel was requested, to FAILED
  // (UNAVAILABLE, `reason`) when `penalize` and attempts >= max_attempts, else to QUEUED.
  // FAILED_PRECONDITION when the job is not RUNNING under that lease.
  virtual absl::StatusOr<JobRecord> Requeue(const std::string& id, int attempt,
                                            const std::string& reason, bool penalize,
                                            int max_attempts, absl::Time now) = 0;

  // A worker that still renders lease (id, attempt) after the job was re-queued gets it back, as
  // long as nobody leased it since (state QUEUED, attempts == attempt). nullopt otherwise.
  virtual absl::StatusOr<std::optional<JobRecord>> Reclaim(const std::string& id, int attempt,
                                                           const std::string& worker_id,
                                                           absl::Time now) = 0;

  // After a gateway restart: every RUNNING job is re-queued (or failed / cancelled) as by Requeue
  // with penalize = true. Returns the jobs it changed.
  virtual absl::StatusOr<std::vector<JobRecord>> RecoverRunning(int max_attempts,
                                                                absl::Time now) = 0;

  // Removes a finished job (SUCCEEDED, FAILED, CANCELLED) and returns it as it was.
  // FAILED_PRECONDITION for a QUEUED or RUNNING job, NOT_FOUND for an unknown id.
  virtual absl::StatusOr<JobRecord> Delete(const std::string& id) = 0;
  // Removes up to `limit` finished jobs that ended before `ended_before`, oldest first, and returns
  // them (retention). Never a QUEUED or RUNNING job, however old.
  virtual absl::StatusOr<std::vector<JobRecord>> DeleteExpired(absl::Time ended_before,
                                                               int limit) = 0;

  // Whether the store answers now, without waiting for one that is restarting (/healthz, and
  // before the metrics scrape reads the counts: the HTTP thread must never wait for a database).
  virtual absl::Status Ping() { return CountByState().status(); }

  // The state several gateways on this store share (gateway_cluster.h); nullptr for a store only
  // one gateway may use (SQLite).
  virtual GatewayCluster* cluster() { return nullptr; }
};

}  // namespace reel::gateway
