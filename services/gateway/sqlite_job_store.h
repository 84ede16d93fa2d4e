#pragma once
// JobStore on one SQLite file: WAL journal, synchronous=FULL (a job the gateway acknowledged is on
// disk before Submit returns, so kill -9 or a power cut cannot lose it), every transition in one
// BEGIN IMMEDIATE transaction, schema versioned with PRAGMA user_version.
#include <memory>
#include <mutex>
#include <string>

#include "services/gateway/job_store.h"
#include "services/gateway/sqlite.h"

namespace reel::gateway {

class SqliteJobStore final : public JobStore {
 public:
  // The schema this build writes; a file with a newer version is refused (FAILED_PRECONDITION).
  static constexpr int kSchemaVersion = 2;

  // Opens or creates `path` and migrates it to kSchemaVersion. An existing file that is empty or
  // not a job store is refused with an error naming it (a new empty store in its place would
  // orphan every earlier result).
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& path);

  absl::StatusOr<JobRecord> Insert(const JobRecord& record, const QueueLimits& limits,
                                   bool* existed) override;
  absl::StatusOr<JobRecord> Get(const std::string& id) override;
  absl::StatusOr<ListPage> List(const ListQuery& query) override;
  absl::StatusOr<std::map<JobState, int64_t>> CountByState() override;
  absl::StatusOr<std::optional<JobRecord>> LeaseNext(const std::string& worker_id,
                                                     const std::vector<std::string>& models,
                                                     absl::Time now) override;
  absl::StatusOr<JobRecord> Finish(const std::string& id, int attempt, const std::string& worker_id,
                                   const Completion& completion, absl::Time now) override;
  absl::StatusOr<JobRecord> Cancel(const std::string& id, absl::Time now) override;
  absl::StatusOr<JobRecord> Requeue(const std::string& id, int attempt, const std::string& reason,
                                    bool penalize, int max_attempts, absl::Time now) override;
  absl::StatusOr<std::optional<JobRecord>> Reclaim(const std::string& id, int attempt,
                                                   const std::string& worker_id,
                                                   absl::Time now) override;
  absl::StatusOr<std::vector<JobRecord>> RecoverRunning(int max_attempts, absl::Time now) override;
  absl::StatusOr<JobRecord> Delete(const std::string& id) override;
  absl::StatusOr<std::vector<JobRecord>> DeleteExpired(absl::Time ended_before, int limit) override;

  // For tests and /healthz: the journal mode ("wal") and the schema version of the open file.
  absl::StatusOr<std::string> JournalMode();
  absl::StatusOr<int64_t> SchemaVersion();

  // The WAL is checkpointed every this many pages and truncated to this size afterwards, so that
  // it stays small on a small volume (SQLite's default lets it reach ~4 MiB).
  static constexpr int kWalCheckpointPages = 64;
  static constexpr int64_t kWalSizeLimitBytes = 512 * 1024;

 private:
  explicit SqliteJobStore(SqliteDb db) : db_(std::move(db)) {}
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> OpenFile(const std::string& path);
  absl::Status Migrate();
  absl::StatusOr<std::optional<JobRecord>> GetLocked(const std::string& id);
  absl::StatusOr<JobRecord> RequeueLocked(const JobRecord& job, const std::string& reason,
                                          bool penalize, int max_attempts, absl::Time now);

  std::mutex mu_;  // one connection; transactions span several statements
  SqliteDb db_;
};

}  // namespace reel::gateway
