#include "services/gateway/postgres_job_store.h"

#include <poll.h>

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pipeline/tensor/status_macros.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/job_transitions.h"
#include "services/gateway/sqlite.h"

namespace reel::gateway {
namespace {

// Version 1 (the first PostgreSQL schema has what SQLite's version 2 has, plus what several
// gateways share). A later version appends a migration; never edit a released one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  seq              BIGSERIAL PRIMARY KEY,
  id               TEXT    NOT NULL UNIQUE,
  owner            TEXT    NOT NULL DEFAULT '',
  state            INTEGER NOT NULL,
  priority         INTEGER NOT NULL,
  model            TEXT    NOT NULL,
  request          BYTEA   NOT NULL,  -- reel.v1.GenerateRequest
  request_hash     BIGINT  NOT NULL,
  idempotency_key  TEXT,              -- NULL when the client sent none
  attempts         INTEGER NOT NULL DEFAULT 0,
  worker_id        TEXT    NOT NULL DEFAULT '',
  cancel_requested BOOLEAN NOT NULL DEFAULT false,
  create_ms        BIGINT  NOT NULL,  -- Unix milliseconds, as the gateways' clocks say
  start_ms         BIGINT,
  end_ms           BIGINT,
  update_ms        BIGINT  NOT NULL,
  error_code       INTEGER NOT NULL DEFAULT 0,
  error_message    TEXT    NOT NULL DEFAULT '',
  result_file      TEXT    NOT NULL DEFAULT '',
  result           BYTEA,             -- reel.v1.ResultRef
  progress         BYTEA,             -- reel.v1.Progress
  lease_renew_ms   BIGINT             -- RUNNING: when its worker was last heard of
);
CREATE UNIQUE INDEX jobs_by_owner_idempotency_key ON jobs(owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_queue_order ON jobs(state, priority DESC, seq);
CREATE INDEX jobs_by_owner ON jobs(owner, state, seq);
CREATE INDEX jobs_by_end ON jobs(end_ms) WHERE end_ms IS NOT NULL;
CREATE TABLE workers (
  id           TEXT   PRIMARY KEY,
  models       BYTEA  NOT NULL,  -- reel.v1.RegisterWorkerRequest with only `models`
  last_seen_ms BIGINT NOT NULL
);
)sql",
};

constexpr const char* kColumns =
    "seq, id, state, priority, model, request, request_hash, idempotency_key, attempts, worker_id, "
    "cancel_requested, create_ms, start_ms, end_ms, update_ms, error_code, error_message, "
    "result_file, result, progress, owner";

constexpr const char* kChannel = "reel_jobs";
// Advisory lock keys (any constants unique to reel): schema migration, and Insert (so that the
// queue limits count and insert atomically across gateways).
constexpr int64_t kMigrateLock = 0x7265656c0001;
constexpr int64_t kInsertLock = 0x7265656c0002;

int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }
PgParam TimeParam(absl::Time t) {
  return t == absl::InfinitePast() ? PgParam::Null() : PgParam::Int(ToMs(t));
}
absl::Time TimeColumn(const PgResult& r, int row, int column) {
  return r.IsNull(row, column) ? absl::InfinitePast() : absl::FromUnixMillis(r.Int(row, column));
}

absl::StatusOr<JobRecord> ReadRow(const PgResult& r, int row) {
  JobRecord job;
  job.seq = r.Int(row, 0);
  job.id = r.Text(row, 1);
  job.state = static_cast<JobState>(r.Int(row, 2));
  job.priority = static_cast<int>(r.Int(row, 3));
  job.model = r.Text(row, 4);
  if (!job.request.ParseFromString(r.Bytes(row, 5))) {
    return absl::DataLossError(absl::StrCat("job ", job.id, ": stored request does not parse"));
  }
  job.request_hash = static_cast<uint64_t>(r.Int(row, 6));
  job.idempotency_key = r.IsNull(row, 7) ? "" : r.Text(row, 7);
  job.attempts = static_cast<int>(r.Int(row, 8));
  job.worker_id = r.Text(row, 9);
  job.cancel_requested = r.Bool(row, 10);
  job.create_time = TimeColumn(r, row, 11);
  job.start_time = TimeColumn(r, row, 12);
  job.end_time = TimeColumn(r, row, 13);
  job.update_time = TimeColumn(r, row, 14);
  job.error_code = static_cast<int>(r.Int(row, 15));
  job.error_message = r.Text(row, 16);
  job.result_file = r.Text(row, 17);
  if (!job.result.ParseFromString(r.Bytes(row, 18)) ||
      !job.progress.ParseFromString(r.Bytes(row, 19))) {
    return absl::DataLossError(
        absl::StrCat("job ", job.id, ": stored result/progress does not parse"));
  }
  job.owner = r.Text(row, 20);
  return job;
}

absl::StatusOr<std::vector<JobRecord>> ReadRows(const PgResult& r) {
  std::vector<JobRecord> jobs;
  for (int i = 0; i < r.rows(); ++i) {
    REEL_ASSIGN_OR_RETURN(JobRecord job, ReadRow(r, i));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// The job's row, locked until the transaction ends; nullopt when there is none.
absl::StatusOr<std::optional<JobRecord>> LockJob(PgConn& conn, const std::string& id) {
  REEL_ASSIGN_OR_RETURN(PgResult r, conn.Exec(absl::StrCat("SELECT ", kColumns,
                                                           " FROM jobs WHERE id = $1 FOR UPDATE"),
                                              {PgParam::Text(id)}));
  if (r.rows() == 0) return std::nullopt;
  return ReadRow(r, 0);
}

std::string StateList(const std::vector<JobState>& states) {
  std::vector<std::string> out;
  for (JobState s : states) out.push_back(absl::StrCat(static_cast<int>(s)));
  return absl::StrJoin(out, ",");
}

constexpr const char* kTerminalStates = "3, 4, 5";  // SUCCEEDED, FAILED, CANCELLED

}  // namespace

// A connection borrowed from the pool; goes back on destruction (or is dropped when broken).
class PostgresJobStore::Pooled {
 public:
  Pooled(PostgresJobStore* store, std::unique_ptr<PgConn> conn)
      : store_(store), conn_(std::move(conn)) {}
  Pooled(Pooled&& other) noexcept
      : store_(std::exchange(other.store_, nullptr)), conn_(std::move(other.conn_)) {}
  Pooled& operator=(Pooled&&) = delete;
  ~Pooled() {
    if (store_ != nullptr) store_->Release(std::move(conn_));
  }
  PgConn& operator*() const { return *conn_; }
  PgConn* operator->() const { return conn_.get(); }

 private:
  PostgresJobStore* store_;
  std::unique_ptr<PgConn> conn_;
};

PostgresJobStore::PostgresJobStore(PostgresStoreOptions options)
    : options_(std::move(options)),
      origin_(absl::StrFormat("g%016x", absl::Uniform<uint64_t>(absl::BitGen()))) {}

PostgresJobStore::~PostgresJobStore() { StopListening(); }

absl::StatusOr<std::unique_ptr<PostgresJobStore>> PostgresJobStore::Open(
    PostgresStoreOptions options) {
  if (options.max_connections < 1) options.max_connections = 1;
  std::unique_ptr<PostgresJobStore> store(new PostgresJobStore(std::move(options)));
  if (absl::Status s = store->Migrate(); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("job store ", RedactDsn(store->options_.dsn), ": ", s.message()));
  }
  return store;
}

absl::StatusOr<PostgresJobStore::Pooled> PostgresJobStore::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    pool_cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.max_connections; });
    if (!idle_.empty()) {
      std::unique_ptr<PgConn> conn = std::move(idle_.back());
      idle_.pop_back();
      return Pooled(this, std::move(conn));
    }
    ++open_;
  }
  absl::StatusOr<std::unique_ptr<PgConn>> conn = PgConn::Connect(options_.dsn);
  if (!conn.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    pool_cv_.notify_one();
    return conn.status();
  }
  return Pooled(this, *std::move(conn));
}

void PostgresJobStore::Release(std::unique_ptr<PgConn> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn != nullptr && !conn->broken()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
    // One connection broke: the server probably restarted, and the idle ones are dead too (libpq
    // only finds out when it next uses them). Drop them rather than fail on each in turn.
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
  }
  pool_cv_.notify_all();
}

absl::Status PostgresJobStore::Transact(
    const std::function<absl::Status(PgConn&, bool rerun)>& body) {
  const absl::Time give_up = absl::Now() + options_.retry_budget;
  absl::Duration backoff = absl::Milliseconds(50);
  bool rerun = false;
  for (;;) {
    absl::Status status;
    {
      absl::StatusOr<Pooled> conn = Acquire();
      if (conn.ok()) {
        status = (*conn)->ExecScript("BEGIN");
        if (status.ok()) status = body(**conn, rerun);
        if (status.ok()) {
          status = (*conn)->ExecScript("COMMIT");
        } else if (!(*conn)->broken()) {
          (void)(*conn)->ExecScript("ROLLBACK");
        }
      } else {
        status = conn.status();
      }
    }
    if (status.ok() || !IsRetryablePgError(status)) return status;
    if (absl::Now() + backoff > give_up) {
      return AsStorageFailure(absl::UnavailableError(
          absl::StrCat("the job store (PostgreSQL) is unreachable; gave up after ",
                       absl::FormatDuration(options_.retry_budget), ": ", status.message())));
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
    rerun = true;
    std::lock_guard<std::mutex> lock(mu_);
    ++retried_;
  }
}

int64_t PostgresJobStore::retried_transactions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retried_;
}

absl::Status PostgresJobStore::Migrate() {
  return Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_RETURN_IF_ERROR(
        c.Exec("SELECT pg_advisory_xact_lock($1)", {PgParam::Int(kMigrateLock)}).status());
    REEL_RETURN_IF_ERROR(
        c.ExecScript("CREATE TABLE IF NOT EXISTS reel_schema (version INTEGER NOT NULL)"));
    REEL_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT version FROM reel_schema"));
    int64_t version = 0;
    if (r.rows() == 0) {
      REEL_RETURN_IF_ERROR(c.ExecScript("INSERT INTO reel_schema VALUES (0)"));
    } else {
      version = r.Int(0, 0);
    }
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat("job store schema version ", version,
                                                        " is newer than this build's ",
                                                        kSchemaVersion, "; use a newer reel"));
    }
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      REEL_RETURN_IF_ERROR(c.ExecScript(kMigrations[v]));
    }
    return c.Exec("UPDATE reel_schema SET version = $1", {PgParam::Int(kSchemaVersion)}).status();
  });
}

absl::StatusOr<int64_t> PostgresJobStore::SchemaVersion() {
  int64_t version = 0;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT version FROM reel_schema"));
    version = r.rows() == 0 ? 0 : r.Int(0, 0);
    return absl::OkStatus();
  }));
  return version;
}

absl::Status PostgresJobStore::WriteBack(PgConn& conn, const JobRecord& job, bool take_lease) {
  REEL_RETURN_IF_ERROR(
      conn.Exec("UPDATE jobs SET state = $1, attempts = $2, worker_id = $3, cancel_requested = $4, "
                "start_ms = $5, end_ms = $6, update_ms = $7, error_code = $8, error_message = $9, "
                "result_file = $10, result = $11, progress = $12, request = $13, "
                "lease_renew_ms = CASE WHEN $15 THEN $7 ELSE lease_renew_ms END WHERE seq = $14",
                {PgParam::Int(job.state), PgParam::Int(job.attempts), PgParam::Text(job.worker_id),
                 PgParam::Text(job.cancel_requested ? "true" : "false"), TimeParam(job.start_time),
                 TimeParam(job.end_time), TimeParam(job.update_time), PgParam::Int(job.error_code),
                 PgParam::Text(job.error_message), PgParam::Text(job.result_file),
                 PgParam::Bytes(job.result.SerializeAsString()),
                 PgParam::Bytes(job.progress.SerializeAsString()),
                 PgParam::Bytes(job.request.SerializeAsString()), PgParam::Int(job.seq),
                 PgParam::Text(take_lease ? "true" : "false")})
          .status());
  return Notify(conn, job.id, "");
}

absl::Status PostgresJobStore::Notify(PgConn& conn, const std::string& id,
                                      const std::string& progress) {
  // Inside a transaction: delivered to the other gateways when (and only if) it commits.
  return conn
      .Exec("SELECT pg_notify($1, $2)",
            {PgParam::Text(kChannel),
             PgParam::Text(absl::StrCat(origin_, "|", id, "|", absl::Base64Escape(progress)))})
      .status();
}

absl::StatusOr<JobRecord> PostgresJobStore::Insert(const JobRecord& record,
                                                   const QueueLimits& limits, bool* existed) {
  JobRecord job = record;
  job.state = v1::Job::QUEUED;
  job.attempts = 0;
  job.update_time = job.create_time;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool rerun) -> absl::Status {
    *existed = false;
    if (rerun) {
      // The earlier run may have committed with its answer lost: then the job is there.
      REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> mine, LockJob(c, record.id));
      if (mine && mine->owner == record.owner && mine->request_hash == record.request_hash) {
        job = *std::move(mine);
        return absl::OkStatus();
      }
    }
    REEL_RETURN_IF_ERROR(
        c.Exec("SELECT pg_advisory_xact_lock($1)", {PgParam::Int(kInsertLock)}).status());
    if (!record.idempotency_key.empty()) {
      REEL_ASSIGN_OR_RETURN(
          PgResult r, c.Exec(absl::StrCat("SELECT ", kColumns,
                                          " FROM jobs WHERE owner = $1 AND "
                                          "idempotency_key = $2"),
                             {PgParam::Text(record.owner), PgParam::Text(record.idempotency_key)}));
      if (r.rows() > 0) {
        *existed = true;
        REEL_ASSIGN_OR_RETURN(job, ReadRow(r, 0));
        return absl::OkStatus();
      }
    }
    REEL_ASSIGN_OR_RETURN(PgResult all, c.Exec("SELECT COUNT(*) FROM jobs WHERE state = 1"));
    const int64_t queued = all.Int(0, 0);
    if (limits.max_queued > 0 && queued >= limits.max_queued) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the queue is full (", queued,
                       " jobs waiting, limit max_queued = ", limits.max_queued, "); retry later"));
    }
    if (limits.max_queued_per_owner > 0) {
      REEL_ASSIGN_OR_RETURN(PgResult r,
                            c.Exec("SELECT COUNT(*) FROM jobs WHERE owner = $1 AND state = 1",
                                   {PgParam::Text(record.owner)}));
      const int64_t mine = r.Int(0, 0);
      if (mine >= limits.max_queued_per_owner) {
        return absl::ResourceExhaustedError(
            absl::StrCat("'", record.owner, "' has ", mine, " jobs waiting, the limit per client (",
                         "max_queued_per_client = ", limits.max_queued_per_owner,
                         "); retry when some have started"));
      }
    }
    REEL_ASSIGN_OR_RETURN(
        PgResult inserted,
        c.Exec("INSERT INTO jobs (id, state, priority, model, request, request_hash, "
               "idempotency_key, create_ms, update_ms, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, "
               "$8, $8, $9) RETURNING seq",
               {PgParam::Text(job.id), PgParam::Int(job.state), PgParam::Int(job.priority),
                PgParam::Text(job.model), PgParam::Bytes(job.request.SerializeAsString()),
                PgParam::Int(static_cast<int64_t>(job.request_hash)),
                job.idempotency_key.empty() ? PgParam::Null() : PgParam::Text(job.idempotency_key),
                PgParam::Int(ToMs(job.create_time)), PgParam::Text(job.owner)}));
    job.seq = inserted.Int(0, 0);
    return Notify(c, job.id, "");
  }));
  return job;
}

absl::StatusOr<JobRecord> PostgresJobStore::Get(const std::string& id) {
  std::optional<JobRecord> job;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(
        PgResult r,
        c.Exec(absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE id = $1"), {PgParam::Text(id)}));
    if (r.rows() == 0) return absl::OkStatus();
    REEL_ASSIGN_OR_RETURN(job, ReadRow(r, 0));
    return absl::OkStatus();
  }));
  if (!job) return NoSuchJob(id);
  return *std::move(job);
}

absl::StatusOr<ListPage> PostgresJobStore::List(const ListQuery& query) {
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE ($1 = 0 OR seq < $1)");
  std::vector<PgParam> params = {PgParam::Int(query.before_seq),
                                 PgParam::Int(int64_t{query.page_size} + 1)};
  if (query.owner) {
    absl::StrAppend(&sql, " AND owner = $3");
    params.push_back(PgParam::Text(*query.owner));
  }
  if (!query.states.empty()) {
    absl::StrAppend(&sql, " AND state IN (", StateList(query.states), ")");
  }
  absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT $2");
  ListPage page;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(PgResult r, c.Exec(sql, params));
    REEL_ASSIGN_OR_RETURN(page.jobs, ReadRows(r));
    page.next_before_seq = 0;
    if (static_cast<int>(page.jobs.size()) > query.page_size) {
      page.jobs.resize(static_cast<size_t>(query.page_size));
      page.next_before_seq = page.jobs.back().seq;  // one more row exists beyond this page
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<std::map<JobState, int64_t>> PostgresJobStore::CountByState() {
  std::map<JobState, int64_t> counts;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT state, COUNT(*) FROM jobs GROUP BY state"));
    counts.clear();
    for (int i = 0; i < r.rows(); ++i) counts[static_cast<JobState>(r.Int(i, 0))] = r.Int(i, 1);
    return absl::OkStatus();
  }));
  return counts;
}

absl::StatusOr<std::optional<JobRecord>> PostgresJobStore::LeaseNext(
    const std::string& worker_id, const std::vector<std::string>& models, absl::Time now) {
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE state = 1 AND (model = ''");
  std::vector<PgParam> params;
  if (!models.empty()) {
    std::vector<std::string> marks;
    for (const std::string& m : models) {
      params.push_back(PgParam::Text(m));
      marks.push_back(absl::StrCat("$", params.size()));
    }
    absl::StrAppend(&sql, " OR model IN (", absl::StrJoin(marks, ","), ")");
  }
  // SKIP LOCKED: a job another gateway is leasing right now is passed over, not waited for.
  absl::StrAppend(&sql, ") ORDER BY priority DESC, seq ASC LIMIT 1 FOR UPDATE SKIP LOCKED");
  std::optional<JobRecord> leased;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool rerun) -> absl::Status {
    leased.reset();
    if (rerun) {
      // Did the earlier run commit? Then this worker holds a lease that started at `now`.
      REEL_ASSIGN_OR_RETURN(PgResult r,
                            c.Exec(absl::StrCat("SELECT ", kColumns,
                                                " FROM jobs WHERE state = 2 AND worker_id = $1 AND "
                                                "start_ms = $2 LIMIT 1"),
                                   {PgParam::Text(worker_id), PgParam::Int(ToMs(now))}));
      if (r.rows() > 0) {
        REEL_ASSIGN_OR_RETURN(leased, ReadRow(r, 0));
        return absl::OkStatus();
      }
    }
    REEL_ASSIGN_OR_RETURN(PgResult r, c.Exec(sql, params));
    if (r.rows() == 0) return absl::OkStatus();
    REEL_ASSIGN_OR_RETURN(JobRecord job, ReadRow(r, 0));
    StartLease(job, worker_id, now);
    REEL_RETURN_IF_ERROR(WriteBack(c, job, /*take_lease=*/true));
    leased = std::move(job);
    return absl::OkStatus();
  }));
  return leased;
}

absl::StatusOr<JobRecord> PostgresJobStore::Finish(const std::string& id, int attempt,
                                                   const std::string& worker_id,
                                                   const Completion& completion, absl::Time now) {
  if (!IsTerminal(completion.state)) {
    return absl::InvalidArgumentError("Finish needs SUCCEEDED, FAILED or CANCELLED");
  }
  JobRecord job;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool rerun) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, LockJob(c, id));
    if (!found) return NoSuchJob(id);
    job = *std::move(found);
    if (rerun && job.state == completion.state && job.attempts == attempt &&
        job.worker_id == worker_id && ToMs(job.end_time) == ToMs(now)) {
      return absl::OkStatus();  // the earlier run committed
    }
    if (job.state != v1::Job::RUNNING || job.attempts != attempt || job.worker_id != worker_id) {
      return NotRunningUnder(job, attempt, worker_id);
    }
    ApplyCompletion(job, completion, now);
    return WriteBack(c, job, /*take_lease=*/false);
  }));
  return job;
}

absl::StatusOr<JobRecord> PostgresJobStore::Cancel(const std::string& id, absl::Time now) {
  JobRecord job;
  // Idempotent as it stands: a re-run finds CANCELLED or cancel_requested and changes nothing.
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, LockJob(c, id));
    if (!found) return NoSuchJob(id);
    job = *std::move(found);
    REEL_ASSIGN_OR_RETURN(bool changed, ApplyCancel(job, now));
    if (!changed) return absl::OkStatus();
    return WriteBack(c, job, /*take_lease=*/false);
  }));
  return job;
}

absl::StatusOr<JobRecord> PostgresJobStore::RequeueLocked(PgConn& conn, const JobRecord& running,
                                                          const std::string& reason, bool penalize,
                                                          int max_attempts, absl::Time now) {
  JobRecord job = running;
  ApplyRequeue(job, reason, penalize, max_attempts, now);
  REEL_RETURN_IF_ERROR(WriteBack(conn, job, /*take_lease=*/false));
  return job;
}

absl::StatusOr<std::vector<JobRecord>> PostgresJobStore::RequeueRows(
    PgConn& conn, const PgResult& rows, int max_attempts, absl::Time now,
    const std::function<std::string(const JobRecord&)>& reason) {
  REEL_ASSIGN_OR_RETURN(std::vector<JobRecord> running, ReadRows(rows));
  std::vector<JobRecord> changed;
  for (const JobRecord& job : running) {
    REEL_ASSIGN_OR_RETURN(JobRecord after, RequeueLocked(conn, job, reason(job), /*penalize=*/true,
                                                         max_attempts, now));
    changed.push_back(std::move(after));
  }
  return changed;
}

absl::StatusOr<JobRecord> PostgresJobStore::Requeue(const std::string& id, int attempt,
                                                    const std::string& reason, bool penalize,
                                                    int max_attempts, absl::Time now) {
  JobRecord job;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool rerun) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, LockJob(c, id));
    if (!found) return NoSuchJob(id);
    if (rerun && found->state != v1::Job::RUNNING && found->attempts == attempt &&
        ToMs(found->update_time) == ToMs(now)) {
      job = *std::move(found);  // the earlier run committed
      return absl::OkStatus();
    }
    if (found->state != v1::Job::RUNNING || found->attempts != attempt) {
      return NotRunningUnder(*found, attempt, found->worker_id);
    }
    REEL_ASSIGN_OR_RETURN(job, RequeueLocked(c, *found, reason, penalize, max_attempts, now));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<std::optional<JobRecord>> PostgresJobStore::Reclaim(const std::string& id,
                                                                   int attempt,
                                                                   const std::string& worker_id,
                                                                   absl::Time now) {
  std::optional<JobRecord> job;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool rerun) -> absl::Status {
    job.reset();
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, LockJob(c, id));
    if (!found || found->attempts != attempt) return absl::OkStatus();
    if (rerun && found->state == v1::Job::RUNNING && found->worker_id == worker_id) {
      job = std::move(found);  // the earlier run committed
      return absl::OkStatus();
    }
    if (found->state != v1::Job::QUEUED) return absl::OkStatus();
    found->state = v1::Job::RUNNING;
    found->worker_id = worker_id;
    found->update_time = now;
    REEL_RETURN_IF_ERROR(WriteBack(c, *found, /*take_lease=*/true));
    job = std::move(found);
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<std::vector<JobRecord>> PostgresJobStore::RecoverRunning(int max_attempts,
                                                                        absl::Time now) {
  std::vector<JobRecord> changed;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    changed.clear();
    REEL_ASSIGN_OR_RETURN(
        PgResult r,
        c.Exec(absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE state = 2 FOR UPDATE")));
    REEL_ASSIGN_OR_RETURN(changed, RequeueRows(c, r, max_attempts, now, [](const JobRecord& job) {
                            return absl::StrCat("the gateway restarted while worker '",
                                                job.worker_id, "' ran it");
                          }));
    return absl::OkStatus();
  }));
  return changed;
}

absl::StatusOr<JobRecord> PostgresJobStore::Delete(const std::string& id) {
  JobRecord job;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, LockJob(c, id));
    if (!found) return NoSuchJob(id);
    job = *std::move(found);
    REEL_RETURN_IF_ERROR(CheckDeletable(job));
    REEL_RETURN_IF_ERROR(
        c.Exec("DELETE FROM jobs WHERE seq = $1", {PgParam::Int(job.seq)}).status());
    return Notify(c, id, "");
  }));
  return job;
}

absl::StatusOr<std::vector<JobRecord>> PostgresJobStore::DeleteExpired(absl::Time ended_before,
                                                                       int limit) {
  std::vector<JobRecord> deleted;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(
        PgResult r,
        c.Exec(absl::StrCat("DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE state IN (",
                            kTerminalStates,
                            ") AND end_ms < $1 ORDER BY end_ms LIMIT $2 FOR UPDATE SKIP LOCKED) "
                            "RETURNING ",
                            kColumns),
               {PgParam::Int(ToMs(ended_before)), PgParam::Int(limit)}));
    REEL_ASSIGN_OR_RETURN(deleted, ReadRows(r));
    // RETURNING does not keep the sub-select's order.
    std::stable_sort(deleted.begin(), deleted.end(), [](const JobRecord& a, const JobRecord& b) {
      return a.end_time < b.end_time;
    });
    return absl::OkStatus();
  }));
  return deleted;
}

absl::Status PostgresJobStore::RenewLease(const std::string& id, int attempt,
                                          const std::string& worker_id, absl::Time now) {
  return Transact([&](PgConn& c, bool) -> absl::Status {
    REEL_ASSIGN_OR_RETURN(
        PgResult r, c.Exec("UPDATE jobs SET lease_renew_ms = GREATEST(lease_renew_ms, $4) WHERE id "
                           "= $1 AND state = 2 AND attempts = $2 AND worker_id = $3",
                           {PgParam::Text(id), PgParam::Int(attempt), PgParam::Text(worker_id),
                            PgParam::Int(ToMs(now))}));
    if (r.affected() == 0) {
      return absl::FailedPreconditionError(absl::StrCat("job ", id,
                                                        " is not RUNNING under lease attempt ",
                                                        attempt, " of worker '", worker_id, "'"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<JobRecord>> PostgresJobStore::RequeueExpiredLeases(absl::Time cutoff,
                                                                              int max_attempts,
                                                                              absl::Time now) {
  std::vector<JobRecord> changed;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    changed.clear();
    REEL_ASSIGN_OR_RETURN(
        PgResult r,
        c.Exec(absl::StrCat("SELECT ", kColumns,
                            " FROM jobs WHERE state = 2 AND COALESCE(lease_renew_ms, update_ms) < "
                            "$1 FOR UPDATE SKIP LOCKED"),
               {PgParam::Int(ToMs(cutoff))}));
    REEL_ASSIGN_OR_RETURN(changed, RequeueRows(c, r, max_attempts, now, [&](const JobRecord& job) {
                            return absl::StrCat("no gateway heard from worker '", job.worker_id,
                                                "' for ", absl::FormatDuration(now - cutoff));
                          }));
    // Workers nobody heard of for a day are forgotten.
    return c
        .Exec("DELETE FROM workers WHERE last_seen_ms < $1",
              {PgParam::Int(ToMs(now - absl::Hours(24)))})
        .status();
  }));
  return changed;
}

absl::Status PostgresJobStore::PutWorker(const std::string& worker_id,
                                         const std::vector<v1::ModelDescription>& models,
                                         absl::Time now) {
  v1::RegisterWorkerRequest entry;
  for (const v1::ModelDescription& m : models) *entry.add_models() = m;
  return Transact([&](PgConn& c, bool) -> absl::Status {
    return c
        .Exec(
            "INSERT INTO workers (id, models, last_seen_ms) VALUES ($1, $2, $3) ON CONFLICT (id) "
            "DO UPDATE SET models = EXCLUDED.models, last_seen_ms = GREATEST(EXCLUDED."
            "last_seen_ms, workers.last_seen_ms)",
            {PgParam::Text(worker_id), PgParam::Bytes(entry.SerializeAsString()),
             PgParam::Int(ToMs(now))})
        .status();
  });
}

absl::StatusOr<std::map<std::string, std::vector<v1::ModelDescription>>>
PostgresJobStore::LiveWorkers(absl::Time since) {
  std::map<std::string, std::vector<v1::ModelDescription>> workers;
  REEL_RETURN_IF_ERROR(Transact([&](PgConn& c, bool) -> absl::Status {
    workers.clear();
    REEL_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT id, models FROM workers WHERE last_seen_ms "
                                             ">= $1",
                                             {PgParam::Int(ToMs(since))}));
    for (int i = 0; i < r.rows(); ++i) {
      v1::RegisterWorkerRequest entry;
      if (!entry.ParseFromString(r.Bytes(i, 1))) continue;
      workers[r.Text(i, 0)].assign(entry.models().begin(), entry.models().end());
    }
    return absl::OkStatus();
  }));
  return workers;
}

absl::Status PostgresJobStore::Ping() {
  absl::StatusOr<Pooled> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return (*conn)->Exec("SELECT 1").status();
}

absl::Status PostgresJobStore::Publish(const std::string& id, const std::string& progress) {
  // Live progress is best effort (the next report replaces it): one try, no retries.
  absl::StatusOr<Pooled> conn = Acquire();
  if (!conn.ok()) return conn.status();
  return Notify(**conn, id, progress);
}

absl::Status PostgresJobStore::Listen(Listener listener) {
  std::lock_guard<std::mutex> lock(listen_mu_);
  if (listening_) return absl::FailedPreconditionError("already listening");
  listener_ = std::move(listener);
  listening_ = true;
  stop_listening_ = false;
  listen_thread_ = std::thread([this] { ListenLoop(); });
  return absl::OkStatus();
}

void PostgresJobStore::StopListening() {
  {
    std::lock_guard<std::mutex> lock(listen_mu_);
    stop_listening_ = true;
  }
  if (listen_thread_.joinable()) listen_thread_.join();
  std::lock_guard<std::mutex> lock(listen_mu_);
  listening_ = false;
}

void PostgresJobStore::ListenLoop() {
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(listen_mu_);
    return stop_listening_;
  };
  absl::Duration backoff = absl::Milliseconds(50);
  while (!stopping()) {
    absl::StatusOr<std::unique_ptr<PgConn>> conn = PgConn::Connect(options_.dsn);
    if (!conn.ok() || !(*conn)->ExecScript(absl::StrCat("LISTEN ", kChannel)).ok()) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(1));
      continue;
    }
    backoff = absl::Milliseconds(50);
    // Whatever happened while no connection listened was missed: every watcher looks again.
    if (listener_.resync) listener_.resync();
    PGconn* raw = (*conn)->raw();
    while (!stopping()) {
      pollfd fd{PQsocket(raw), POLLIN, 0};
      if (poll(&fd, 1, 200) < 0) continue;
      if (PQconsumeInput(raw) == 0) break;  // the connection broke: reconnect
      while (PGnotify* n = PQnotifies(raw)) {
        const std::vector<std::string> parts = absl::StrSplit(n->extra, absl::MaxSplits('|', 2));
        PQfreemem(n);
        if (parts.size() != 3 || parts[0] == origin_) continue;  // ours: already seen here
        std::string progress;
        if (!absl::Base64Unescape(parts[2], &progress)) continue;
        if (listener_.changed) listener_.changed(parts[1], progress);
      }
      if ((*conn)->broken()) break;
    }
  }
}

}  // namespace reel::gateway
