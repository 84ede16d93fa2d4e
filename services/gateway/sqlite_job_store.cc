#include "services/gateway/sqlite_job_store.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/tensor/status_macros.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/job_transitions.h"

namespace reel::gateway {
namespace {

// Version 1. A later version appends a migration to kMigrations; never edit a released one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT    NOT NULL UNIQUE,
  state            INTEGER NOT NULL,
  priority         INTEGER NOT NULL,
  model            TEXT    NOT NULL,
  request          BLOB    NOT NULL,  -- reel.v1.GenerateRequest
  request_hash     INTEGER NOT NULL,
  idempotency_key  TEXT,              -- NULL when the client sent none
  attempts         INTEGER NOT NULL DEFAULT 0,
  worker_id        TEXT    NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  create_ms        INTEGER NOT NULL,
  start_ms         INTEGER,
  end_ms           INTEGER,
  update_ms        INTEGER NOT NULL,
  error_code       INTEGER NOT NULL DEFAULT 0,
  error_message    TEXT    NOT NULL DEFAULT '',
  result_file      TEXT    NOT NULL DEFAULT '',
  result           BLOB,              -- reel.v1.ResultRef
  progress         BLOB               -- reel.v1.Progress
);
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_queue_order ON jobs(state, priority DESC, seq);
)sql",
    // Version 2: jobs belong to the principal that submitted them; idempotency keys are per owner.
    R"sql(
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
DROP INDEX jobs_by_idempotency_key;
CREATE UNIQUE INDEX jobs_by_owner_idempotency_key ON jobs(owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_owner ON jobs(owner, state, seq);
)sql",
};

constexpr const char* kColumns =
    "seq, id, state, priority, model, request, request_hash, idempotency_key, attempts, worker_id, "
    "cancel_requested, create_ms, start_ms, end_ms, update_ms, error_code, error_message, "
    "result_file, result, progress, owner";

int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }

void BindTime(SqliteStatement& stmt, int index, absl::Time t) {
  if (t == absl::InfinitePast()) {
    stmt.BindNull(index);
  } else {
    stmt.Bind(index, ToMs(t));
  }
}

absl::Time TimeColumn(const SqliteStatement& stmt, int column) {
  return stmt.IsNull(column) ? absl::InfinitePast() : absl::FromUnixMillis(stmt.Int(column));
}

absl::StatusOr<JobRecord> ReadRow(const SqliteStatement& row) {
  JobRecord job;
  job.seq = row.Int(0);
  job.id = row.Text(1);
  job.state = static_cast<JobState>(row.Int(2));
  job.priority = static_cast<int>(row.Int(3));
  job.model = row.Text(4);
  if (!job.request.ParseFromString(row.Blob(5))) {
    return absl::DataLossError(absl::StrCat("job ", job.id, ": stored request does not parse"));
  }
  job.request_hash = static_cast<uint64_t>(row.Int(6));
  job.idempotency_key = row.Text(7);
  job.attempts = static_cast<int>(row.Int(8));
  job.worker_id = row.Text(9);
  job.cancel_requested = row.Int(10) != 0;
  job.create_time = TimeColumn(row, 11);
  job.start_time = TimeColumn(row, 12);
  job.end_time = TimeColumn(row, 13);
  job.update_time = TimeColumn(row, 14);
  job.error_code = static_cast<int>(row.Int(15));
  job.error_message = row.Text(16);
  job.result_file = row.Text(17);
  if (!job.result.ParseFromString(row.Blob(18)) || !job.progress.ParseFromString(row.Blob(19))) {
    return absl::DataLossError(
        absl::StrCat("job ", job.id, ": stored result/progress does not parse"));
  }
  job.owner = row.Text(20);
  return job;
}

// Every transition below ends with one of these UPDATEs (all columns a transition may touch).
constexpr const char* kUpdateSql =
    "UPDATE jobs SET state = ?1, attempts = ?2, worker_id = ?3, cancel_requested = ?4, start_ms = "
    "?5, "
    "end_ms = ?6, update_ms = ?7, error_code = ?8, error_message = ?9, result_file = ?10, result = "
    "?11, "
    "progress = ?12, request = ?13 WHERE seq = ?14";

absl::Status WriteBack(SqliteDb& db, const JobRecord& job) {
  REEL_ASSIGN_OR_RETURN(SqliteStatement stmt, db.Prepare(kUpdateSql));
  stmt.Bind(1, static_cast<int64_t>(job.state))
      .Bind(2, static_cast<int64_t>(job.attempts))
      .Bind(3, job.worker_id)
      .Bind(4, static_cast<int64_t>(job.cancel_requested ? 1 : 0));
  BindTime(stmt, 5, job.start_time);
  BindTime(stmt, 6, job.end_time);
  BindTime(stmt, 7, job.update_time);
  stmt.Bind(8, static_cast<int64_t>(job.error_code))
      .Bind(9, job.error_message)
      .Bind(10, job.result_file)
      .BindBlob(11, job.result.SerializeAsString())
      .BindBlob(12, job.progress.SerializeAsString())
      .BindBlob(13, job.request.SerializeAsString())
      .Bind(14, job.seq);
  return stmt.Run();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path) {
  // SQLite takes a 0-byte file for a new database. A job store is never empty once created (the
  // first transaction writes the schema), so an empty one was truncated or replaced: starting
  // afresh would silently orphan every earlier job and result.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) == 0 && !ec) {
    return absl::DataLossError(absl::StrCat(
        "job store ", path,
        " exists but is empty (0 bytes): it was truncated or replaced. Restore it from a backup, "
        "or delete it to start a new, empty store"));
  }
  absl::StatusOr<std::unique_ptr<SqliteJobStore>> store = OpenFile(path);
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat("job store ", path, ": ", store.status().message()));
  }
  return store;
}

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::OpenFile(const std::string& path) {
  REEL_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(path));
  // WAL: readers (Get/List/Watch) never block the writer; FULL: fsync the WAL at every commit.
  REEL_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode=WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat("cannot use WAL journal (got ", mode, ")"));
  }
  REEL_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=FULL"));
  REEL_RETURN_IF_ERROR(db.Exec(absl::StrCat("PRAGMA wal_autocheckpoint=", kWalCheckpointPages,
                                            "; PRAGMA journal_size_limit=", kWalSizeLimitBytes)));
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(std::move(db)));
  REEL_RETURN_IF_ERROR(store->Migrate());
  return store;
}

absl::Status SqliteJobStore::Migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(int64_t version, db_.QueryInt("PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("job store schema version ", version,
                                                      " is newer than this build's ",
                                                      kSchemaVersion, "; use a newer reel"));
  }
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    REEL_RETURN_IF_ERROR(db_.Exec(kMigrations[v]));
  }
  REEL_RETURN_IF_ERROR(db_.Exec(absl::StrCat("PRAGMA user_version = ", kSchemaVersion)));
  return tx.Commit();
}

absl::StatusOr<std::string> SqliteJobStore::JournalMode() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_.QueryText("PRAGMA journal_mode");
}

absl::StatusOr<int64_t> SqliteJobStore::SchemaVersion() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_.QueryInt("PRAGMA user_version");
}

absl::StatusOr<std::optional<JobRecord>> SqliteJobStore::GetLocked(const std::string& id) {
  REEL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                        db_.Prepare(absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE id = ?1")));
  stmt.Bind(1, id);
  REEL_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  return ReadRow(stmt);
}

absl::StatusOr<JobRecord> SqliteJobStore::Insert(const JobRecord& record, const QueueLimits& limits,
                                                 bool* existed) {
  std::lock_guard<std::mutex> lock(mu_);
  *existed = false;
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  if (!record.idempotency_key.empty()) {
    REEL_ASSIGN_OR_RETURN(SqliteStatement find,
                          db_.Prepare(absl::StrCat("SELECT ", kColumns,
                                                   " FROM jobs WHERE owner = ?1 AND "
                                                   "idempotency_key = ?2")));
    find.Bind(1, record.owner).Bind(2, record.idempotency_key);
    REEL_ASSIGN_OR_RETURN(bool row, find.Step());
    if (row) {
      *existed = true;
      return ReadRow(find);
    }
  }
  REEL_ASSIGN_OR_RETURN(int64_t queued, db_.QueryInt("SELECT COUNT(*) FROM jobs WHERE state = 1"));
  if (limits.max_queued > 0 && queued >= limits.max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the queue is full (", queued,
                     " jobs waiting, limit max_queued = ", limits.max_queued, "); retry later"));
  }
  if (limits.max_queued_per_owner > 0) {
    REEL_ASSIGN_OR_RETURN(SqliteStatement count,
                          db_.Prepare("SELECT COUNT(*) FROM jobs WHERE owner = ?1 AND state = 1"));
    count.Bind(1, record.owner);
    REEL_ASSIGN_OR_RETURN(bool row, count.Step());
    const int64_t mine = row ? count.Int(0) : 0;
    if (mine >= limits.max_queued_per_owner) {
      return absl::ResourceExhaustedError(
          absl::StrCat("'", record.owner, "' has ", mine, " jobs waiting, the limit per client (",
                       "max_queued_per_client = ", limits.max_queued_per_owner,
                       "); retry when some have started"));
    }
  }
  JobRecord job = record;
  job.state = v1::Job::QUEUED;
  job.attempts = 0;
  job.update_time = job.create_time;
  REEL_ASSIGN_OR_RETURN(
      SqliteStatement insert,
      db_.Prepare(
          "INSERT INTO jobs (id, state, priority, model, request, request_hash, idempotency_key, "
          "create_ms, update_ms, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)"));
  insert.Bind(1, job.id)
      .Bind(2, static_cast<int64_t>(job.state))
      .Bind(3, static_cast<int64_t>(job.priority))
      .Bind(4, job.model)
      .BindBlob(5, job.request.SerializeAsString())
      .Bind(6, static_cast<int64_t>(job.request_hash))
      .Bind(8, ToMs(job.create_time))
      .Bind(9, job.owner);
  if (job.idempotency_key.empty()) {
    insert.BindNull(7);
  } else {
    insert.Bind(7, job.idempotency_key);
  }
  REEL_RETURN_IF_ERROR(insert.Run());
  REEL_ASSIGN_OR_RETURN(job.seq, db_.QueryInt("SELECT last_insert_rowid()"));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> job, GetLocked(id));
  if (!job) return NoSuchJob(id);
  return *std::move(job);
}

absl::StatusOr<ListPage> SqliteJobStore::List(const ListQuery& query) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE (?1 = 0 OR seq < ?1)");
  if (query.owner) absl::StrAppend(&sql, " AND owner = ?3");
  if (!query.states.empty()) {
    std::vector<std::string> states;
    for (JobState s : query.states) states.push_back(absl::StrCat(static_cast<int>(s)));
    absl::StrAppend(&sql, " AND state IN (", absl::StrJoin(states, ","), ")");
  }
  absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT ?2");
  REEL_ASSIGN_OR_RETURN(SqliteStatement stmt, db_.Prepare(sql));
  stmt.Bind(1, query.before_seq).Bind(2, static_cast<int64_t>(query.page_size) + 1);
  if (query.owner) stmt.Bind(3, *query.owner);
  ListPage page;
  for (;;) {
    REEL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    REEL_ASSIGN_OR_RETURN(JobRecord job, ReadRow(stmt));
    if (static_cast<int>(page.jobs.size()) == query.page_size) {
      page.next_before_seq = page.jobs.back().seq;  // one more row exists beyond this page
      break;
    }
    page.jobs.push_back(std::move(job));
  }
  return page;
}

absl::StatusOr<std::map<JobState, int64_t>> SqliteJobStore::CountByState() {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteStatement stmt,
                        db_.Prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state"));
  std::map<JobState, int64_t> counts;
  for (;;) {
    REEL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    counts[static_cast<JobState>(stmt.Int(0))] = stmt.Int(1);
  }
  return counts;
}

absl::StatusOr<std::optional<JobRecord>> SqliteJobStore::LeaseNext(
    const std::string& worker_id, const std::vector<std::string>& models, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE state = 1 AND (model = ''");
  if (!models.empty()) {
    std::vector<std::string> marks;
    for (size_t i = 0; i < models.size(); ++i) marks.push_back(absl::StrCat("?", i + 1));
    absl::StrAppend(&sql, " OR model IN (", absl::StrJoin(marks, ","), ")");
  }
  absl::StrAppend(&sql, ") ORDER BY priority DESC, seq ASC LIMIT 1");
  REEL_ASSIGN_OR_RETURN(SqliteStatement stmt, db_.Prepare(sql));
  for (size_t i = 0; i < models.size(); ++i) stmt.Bind(static_cast<int>(i) + 1, models[i]);
  REEL_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  REEL_ASSIGN_OR_RETURN(JobRecord job, ReadRow(stmt));
  StartLease(job, worker_id, now);
  REEL_RETURN_IF_ERROR(WriteBack(db_, job));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::Finish(const std::string& id, int attempt,
                                                 const std::string& worker_id,
                                                 const Completion& completion, absl::Time now) {
  if (!IsTerminal(completion.state)) {
    return absl::InvalidArgumentError("Finish needs SUCCEEDED, FAILED or CANCELLED");
  }
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, GetLocked(id));
  if (!found) return NoSuchJob(id);
  JobRecord job = *std::move(found);
  if (job.state != v1::Job::RUNNING || job.attempts != attempt || job.worker_id != worker_id) {
    return NotRunningUnder(job, attempt, worker_id);
  }
  ApplyCompletion(job, completion, now);
  REEL_RETURN_IF_ERROR(WriteBack(db_, job));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::Cancel(const std::string& id, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, GetLocked(id));
  if (!found) return NoSuchJob(id);
  JobRecord job = *std::move(found);
  REEL_ASSIGN_OR_RETURN(bool changed, ApplyCancel(job, now));
  if (!changed) return job;
  REEL_RETURN_IF_ERROR(WriteBack(db_, job));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::RequeueLocked(const JobRecord& running,
                                                        const std::string& reason, bool penalize,
                                                        int max_attempts, absl::Time now) {
  JobRecord job = running;
  ApplyRequeue(job, reason, penalize, max_attempts, now);
  REEL_RETURN_IF_ERROR(WriteBack(db_, job));
  return job;
}

absl::StatusOr<JobRecord> SqliteJobStore::Requeue(const std::string& id, int attempt,
                                                  const std::string& reason, bool penalize,
                                                  int max_attempts, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, GetLocked(id));
  if (!found) return NoSuchJob(id);
  if (found->state != v1::Job::RUNNING || found->attempts != attempt) {
    return NotRunningUnder(*found, attempt, found->worker_id);
  }
  REEL_ASSIGN_OR_RETURN(JobRecord job, RequeueLocked(*found, reason, penalize, max_attempts, now));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job;
}

absl::StatusOr<std::optional<JobRecord>> SqliteJobStore::Reclaim(const std::string& id, int attempt,
                                                                 const std::string& worker_id,
                                                                 absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, GetLocked(id));
  if (!found || found->state != v1::Job::QUEUED || found->attempts != attempt) return std::nullopt;
  JobRecord job = *std::move(found);
  job.state = v1::Job::RUNNING;
  job.worker_id = worker_id;
  job.update_time = now;
  REEL_RETURN_IF_ERROR(WriteBack(db_, job));
  REEL_RETURN_IF_ERROR(tx.Commit());
  return job;
}

absl::StatusOr<std::vector<JobRecord>> SqliteJobStore::RecoverRunning(int max_attempts,
                                                                      absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare(absl::StrCat("SELECT ", kColumns, " FROM jobs WHERE state = 2")));
  std::vector<JobRecord> running;
  for (;;) {
    REEL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    REEL_ASSIGN_OR_RETURN(JobRecord job, ReadRow(stmt));
    running.push_back(std::move(job));
  }
  std::vector<JobRecord> changed;
  for (const JobRecord& job : running) {
    REEL_ASSIGN_OR_RETURN(
        JobRecord after,
        RequeueLocked(
            job, absl::StrCat("the gateway restarted while worker '", job.worker_id, "' ran it"),
            /*penalize=*/true, max_attempts, now));
    changed.push_back(std::move(after));
  }
  REEL_RETURN_IF_ERROR(tx.Commit());
  return changed;
}

absl::StatusOr<JobRecord> SqliteJobStore::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(std::optional<JobRecord> found, GetLocked(id));
  if (!found) return NoSuchJob(id);
  REEL_RETURN_IF_ERROR(CheckDeletable(*found));
  REEL_ASSIGN_OR_RETURN(SqliteStatement stmt, db_.Prepare("DELETE FROM jobs WHERE seq = ?1"));
  stmt.Bind(1, found->seq);
  REEL_RETURN_IF_ERROR(stmt.Run());
  REEL_RETURN_IF_ERROR(tx.Commit());
  return *std::move(found);
}

absl::StatusOr<std::vector<JobRecord>> SqliteJobStore::DeleteExpired(absl::Time ended_before,
                                                                     int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  REEL_ASSIGN_OR_RETURN(SqliteTransaction tx, SqliteTransaction::Begin(db_));
  REEL_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare(absl::StrCat("SELECT ", kColumns,
                               " FROM jobs WHERE state IN (3, 4, 5) AND end_ms < ?1 "
                               "ORDER BY end_ms LIMIT ?2")));
  stmt.Bind(1, ToMs(ended_before)).Bind(2, static_cast<int64_t>(limit));
  std::vector<JobRecord> expired;
  for (;;) {
    REEL_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    REEL_ASSIGN_OR_RETURN(JobRecord job, ReadRow(stmt));
    expired.push_back(std::move(job));
  }
  for (const JobRecord& job : expired) {
    REEL_ASSIGN_OR_RETURN(SqliteStatement del, db_.Prepare("DELETE FROM jobs WHERE seq = ?1"));
    del.Bind(1, job.seq);
    REEL_RETURN_IF_ERROR(del.Run());
  }
  REEL_RETURN_IF_ERROR(tx.Commit());
  return expired;
}

}  // namespace reel::gateway
