#pragma once
// JobStore on PostgreSQL, which several gateways may share (services/README.md, "Several
// gateways"). Every transition is one transaction that locks the job's row (SELECT ... FOR UPDATE)
// and checks (state, attempt, worker) before writing; LeaseNext takes the next job with FOR UPDATE
// SKIP LOCKED, so two gateways leasing at once never get the same job. The schema is versioned in
// table reel_schema and migrated under an advisory lock (two gateways starting together migrate
// once).
//
// The server may restart under it: a transaction that fails because the connection broke is run
// again on a new connection, with backoff, for up to `retry_budget`, then UNAVAILABLE. A re-run
// first checks whether the earlier run committed after all (the reply to COMMIT was what got lost)
// and then answers as that run would have, so a retried transition is applied once.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "services/gateway/gateway_cluster.h"
#include "services/gateway/job_store.h"
#include "services/gateway/postgres.h"

namespace reel::gateway {

struct PostgresStoreOptions {
  std::string dsn;  // libpq connection string or URI, e.g. postgresql://reel@db/reel
  absl::Duration retry_budget = absl::Seconds(15);  // per call, while the server is unreachable
  int max_connections = 8;                          // pooled, per gateway
};

class PostgresJobStore final : public JobStore, public GatewayCluster {
 public:
  static constexpr int kSchemaVersion = 1;

  // Connects (retrying within retry_budget) and migrates the schema to kSchemaVersion; a database
  // with a newer version is refused (FAILED_PRECONDITION).
  static absl::StatusOr<std::unique_ptr<PostgresJobStore>> Open(PostgresStoreOptions options);
  ~PostgresJobStore() override;

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
  GatewayCluster* cluster() override { return this; }
  absl::Status Ping() override;  // one SELECT 1, no retries

  // GatewayCluster
  absl::Status RenewLease(const std::string& id, int attempt, const std::string& worker_id,
                          absl::Time now) override;
  absl::StatusOr<std::vector<JobRecord>> RequeueExpiredLeases(absl::Time cutoff, int max_attempts,
                                                              absl::Time now) override;
  absl::Status PutWorker(const std::string& worker_id,
                         const std::vector<v1::ModelDescription>& models, absl::Time now) override;
  absl::StatusOr<std::map<std::string, std::vector<v1::ModelDescription>>> LiveWorkers(
      absl::Time since) override;
  absl::Status Publish(const std::string& id, const std::string& progress) override;
  absl::Status Listen(Listener listener) override;
  void StopListening() override;

  absl::StatusOr<int64_t> SchemaVersion();
  // Transactions that were run more than once because the connection broke (tests, metrics).
  int64_t retried_transactions() const;

 private:
  class Pooled;
  explicit PostgresJobStore(PostgresStoreOptions options);
  absl::Status Migrate();
  absl::StatusOr<Pooled> Acquire();
  void Release(std::unique_ptr<PgConn> conn);
  // Runs `body` between BEGIN and COMMIT on a pooled connection; while that fails because the
  // server is unreachable, runs it again (`rerun` = true) on a new one with backoff.
  absl::Status Transact(const std::function<absl::Status(PgConn&, bool rerun)>& body);
  absl::StatusOr<JobRecord> RequeueLocked(PgConn& conn, const JobRecord& job,
                                          const std::string& reason, bool penalize,
                                          int max_attempts, absl::Time now);
  // Every locked RUNNING row of `rows` taken back as by Requeue(penalize = true).
  absl::StatusOr<std::vector<JobRecord>> RequeueRows(
      PgConn& conn, const PgResult& rows, int max_attempts, absl::Time now,
      const std::function<std::string(const JobRecord&)>& reason);
  absl::Status WriteBack(PgConn& conn, const JobRecord& job, bool take_lease);
  // Tells the other gateways' listeners that job `id` changed (`progress`: live progress or "").
  absl::Status Notify(PgConn& conn, const std::string& id, const std::string& progress);
  void ListenLoop();

  const PostgresStoreOptions options_;
  const std::string origin_;  // this store's name in change notifications

  mutable std::mutex mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<PgConn>> idle_;
  int open_ = 0;
  int64_t retried_ = 0;

  std::mutex listen_mu_;
  Listener listener_;
  bool listening_ = false;
  bool stop_listening_ = false;
  std::thread listen_thread_;
};

}  // namespace reel::gateway
