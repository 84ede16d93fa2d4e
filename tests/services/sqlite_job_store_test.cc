// The SQLite job store against the state machine documented in services/gateway/job_store.h, on a
// real database file. The oracle is the documented transition table; durability is checked by
// reopening.
#include "services/gateway/sqlite_job_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/gateway/sqlite.h"
#include "tests/services/full_disk_vfs.h"
#include "tests/services/temp_dir.h"

namespace reel::gateway {
namespace {

using reel::testing::TempDir;

JobRecord NewJob(const std::string& id, int priority = 0, const std::string& key = "",
                 const std::string& model = "", const std::string& owner = "") {
  JobRecord r;
  r.id = id;
  r.owner = owner;
  r.priority = priority;
  r.idempotency_key = key;
  r.model = model;
  r.request.set_prompt("a red ball");
  r.request.set_model(model);
  r.request_hash = 42;
  r.create_time = absl::FromUnixMillis(1700000000000);
  return r;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reel::testing::InstallFullDiskVfs();
    auto store = SqliteJobStore::Open(dir_.File("jobs.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  JobRecord Insert(const JobRecord& r, int64_t max_queued = 100) {
    bool existed = true;
    auto job = store_->Insert(r, max_queued, &existed);
    EXPECT_TRUE(job.ok()) << job.status();
    EXPECT_FALSE(existed);
    return job.ok() ? *job : JobRecord{};
  }
  JobRecord Lease(const std::string& worker = "w1", const std::vector<std::string>& models = {}) {
    auto job = store_->LeaseNext(worker, models, now_);
    EXPECT_TRUE(job.ok() && job->has_value());
    return job.ok() && job->has_value() ? **job : JobRecord{};
  }
  TempDir dir_;
  std::unique_ptr<SqliteJobStore> store_;
  absl::Time now_ = absl::FromUnixMillis(1700000001000);
};

TEST_F(StoreTest, OpensInWalModeWithTheCurrentSchemaVersion) {
  EXPECT_EQ(*store_->JournalMode(), "wal");
  EXPECT_EQ(*store_->SchemaVersion(), SqliteJobStore::kSchemaVersion);
}

TEST_F(StoreTest, RefusesAFileWrittenByANewerSchema) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("jobs.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteJobStore::Open(dir_.File("jobs.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("99"), absl::string_view::npos);
}

TEST_F(StoreTest, InsertedJobsSurviveReopening) {
  JobRecord a = Insert(NewJob("ja", 3, "key-a"));
  EXPECT_GT(a.seq, 0);
  store_.reset();
  auto reopened = SqliteJobStore::Open(dir_.File("jobs.db"));
  ASSERT_TRUE(reopened.ok());
  auto got = (*reopened)->Get("ja");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, v1::Job::QUEUED);
  EXPECT_EQ(got->priority, 3);
  EXPECT_EQ(got->request.prompt(), "a red ball");
  EXPECT_EQ(got->idempotency_key, "key-a");
  EXPECT_EQ(got->create_time, absl::FromUnixMillis(1700000000000));
  EXPECT_EQ(got->start_time, absl::InfinitePast());
}

TEST_F(StoreTest, UnknownIdIsNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Cancel("nope", now_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, IdempotencyKeyReturnsTheEarlierJob) {
  Insert(NewJob("j1", 0, "same"));
  bool existed = false;
  auto again = store_->Insert(NewJob("j2", 0, "same"), 100, &existed);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(existed);
  EXPECT_EQ(again->id, "j1");
  EXPECT_EQ(store_->Get("j2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, QueueLimitCountsOnlyQueuedJobs) {
  Insert(NewJob("j1"), 2);
  Insert(NewJob("j2"), 2);
  bool existed = false;
  EXPECT_EQ(store_->Insert(NewJob("j3"), 2, &existed).status().code(),
            absl::StatusCode::kResourceExhausted);
  Lease();  // j1 leaves the queue
  EXPECT_TRUE(store_->Insert(NewJob("j3"), 2, &existed).ok());
  // A repeated key is answered even when the queue is full.
  Insert(NewJob("j4", 0, "k"), 10);
  EXPECT_TRUE(store_->Insert(NewJob("j5", 0, "k"), 2, &existed).ok());
  EXPECT_TRUE(existed);
}

TEST_F(StoreTest, LeasesByPriorityThenSubmissionOrder) {
  Insert(NewJob("low", -5));
  Insert(NewJob("first", 2));
  Insert(NewJob("second", 2));
  Insert(NewJob("top", 9));
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) order.push_back(Lease().id);
  EXPECT_EQ(order, (std::vector<std::string>{"top", "first", "second", "low"}));
  auto none = store_->LeaseNext("w1", {}, now_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(StoreTest, LeaseOnlyGivesModelsTheWorkerServes) {
  Insert(NewJob("big", 5, "", "reel-big"));
  Insert(NewJob("any", 0, "", ""));
  Insert(NewJob("tiny", 0, "", "reel-tiny"));
  EXPECT_EQ(Lease("w", {"reel-tiny"}).id, "any");
  EXPECT_EQ(Lease("w", {"reel-tiny"}).id, "tiny");
  auto none = store_->LeaseNext("w", {"reel-tiny"}, now_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(Lease("w2", {"reel-big"}).id, "big");
}

TEST_F(StoreTest, LeaseStartsAnAttemptAndFinishNeedsThatExactLease) {
  Insert(NewJob("j"));
  JobRecord running = Lease("w1");
  EXPECT_EQ(running.state, v1::Job::RUNNING);
  EXPECT_EQ(running.attempts, 1);
  EXPECT_EQ(running.worker_id, "w1");
  EXPECT_EQ(running.start_time, now_);
  Completion ok;
  ok.state = v1::Job::SUCCEEDED;
  ok.result_file = "j-1.mp4";
  ok.result.set_size_bytes(123);
  EXPECT_EQ(store_->Finish("j", 2, "w1", ok, now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Finish("j", 1, "w2", ok, now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto done = store_->Finish("j", 1, "w1", ok, now_ + absl::Seconds(3));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, v1::Job::SUCCEEDED);
  EXPECT_EQ(done->result.size_bytes(), 123);
  EXPECT_EQ(done->end_time, now_ + absl::Seconds(3));
  // A second Finish (a retried RPC or a stale worker) cannot change a finished job.
  Completion fail;
  fail.state = v1::Job::FAILED;
  EXPECT_EQ(store_->Finish("j", 1, "w1", fail, now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get("j")->state, v1::Job::SUCCEEDED);
}

TEST_F(StoreTest, CancelFollowsTheStateTable) {
  Insert(NewJob("queued"));
  auto c = store_->Cancel("queued", now_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, v1::Job::CANCELLED);
  EXPECT_EQ(c->error_code, static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_TRUE(store_->Cancel("queued", now_).ok());  // again: unchanged, not an error

  Insert(NewJob("running"));
  Lease();
  auto r = store_->Cancel("running", now_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, v1::Job::RUNNING);
  EXPECT_TRUE(r->cancel_requested);

  Insert(NewJob("done"));
  JobRecord d = Lease();
  Completion ok;
  ASSERT_TRUE(store_->Finish("done", d.attempts, "w1", ok, now_).ok());
  EXPECT_EQ(store_->Cancel("done", now_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, RequeueRetriesThenFailsAfterMaxAttempts) {
  Insert(NewJob("j"));
  for (int attempt = 1; attempt <= 2; ++attempt) {
    JobRecord r = Lease();
    ASSERT_EQ(r.attempts, attempt);
    auto back = store_->Requeue("j", attempt, "worker lost", true, 3, now_);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->state, v1::Job::QUEUED);
  }
  Lease();
  auto failed = store_->Requeue("j", 3, "worker lost", true, 3, now_);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, v1::Job::FAILED);
  EXPECT_EQ(failed->error_code, static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_NE(failed->error_message.find("worker lost"), std::string::npos);
}

TEST_F(StoreTest, RequeueOfACancelRequestedJobCancelsIt) {
  Insert(NewJob("j"));
  Lease();
  ASSERT_TRUE(store_->Cancel("j", now_).ok());
  auto r = store_->Requeue("j", 1, "worker lost", true, 3, now_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, v1::Job::CANCELLED);
}

TEST_F(StoreTest, ReleaseDoesNotCountTowardsFailure) {
  Insert(NewJob("j"));
  for (int i = 0; i < 5; ++i) {
    JobRecord r = Lease();
    auto back = store_->Requeue("j", r.attempts, "released", /*penalize=*/false, 2, now_);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->state, v1::Job::QUEUED);
  }
}

TEST_F(StoreTest, ReclaimOnlyWhileNobodyElseLeasedIt) {
  Insert(NewJob("j"));
  Lease("w1");
  ASSERT_TRUE(store_->Requeue("j", 1, "lost", true, 3, now_).ok());
  auto back = store_->Reclaim("j", 1, "w1", now_);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->state, v1::Job::RUNNING);
  EXPECT_EQ((*back)->attempts, 1);
  // Re-queue again and let another worker take it: the old lease cannot come back.
  ASSERT_TRUE(store_->Requeue("j", 1, "lost", true, 3, now_).ok());
  EXPECT_EQ(Lease("w2").attempts, 2);
  auto stale = store_->Reclaim("j", 1, "w1", now_);
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale->has_value());
}

TEST_F(StoreTest, RecoverRunningRequeuesEveryRunningJob) {
  Insert(NewJob("a"));
  Insert(NewJob("b"));
  Insert(NewJob("c"));
  Lease();
  Lease();
  ASSERT_TRUE(store_->Cancel("b", now_).ok());  // b: cancel requested while running
  auto changed = store_->RecoverRunning(3, now_);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->size(), 2u);
  EXPECT_EQ(store_->Get("a")->state, v1::Job::QUEUED);
  EXPECT_EQ(store_->Get("b")->state, v1::Job::CANCELLED);
  EXPECT_EQ(store_->Get("c")->state, v1::Job::QUEUED);
  auto counts = store_->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[v1::Job::QUEUED], 2);
  EXPECT_EQ((*counts)[v1::Job::CANCELLED], 1);
  EXPECT_EQ(counts->count(v1::Job::RUNNING), 0u);
}

TEST_F(StoreTest, ListPagesNewestFirstAndFiltersByState) {
  for (int i = 0; i < 7; ++i) Insert(NewJob(absl::StrCat("j", i)));
  ASSERT_TRUE(store_->Cancel("j2", now_).ok());
  std::vector<std::string> seen;
  ListQuery q;
  q.page_size = 3;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->List(q);
    ASSERT_TRUE(page.ok());
    for (const JobRecord& j : page->jobs) seen.push_back(j.id);
    if (page->next_before_seq == 0) break;
    q.before_seq = page->next_before_seq;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"j6", "j5", "j4", "j3", "j2", "j1", "j0"}));
  ListQuery cancelled;
  cancelled.states = {v1::Job::CANCELLED};
  auto page = store_->List(cancelled);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, "j2");
  EXPECT_EQ(page->next_before_seq, 0);
}

TEST_F(StoreTest, IdempotencyKeysAndQueueLimitsArePerOwner) {
  Insert(NewJob("a1", 0, "key", "", "alice"));
  bool existed = false;
  // Bob's identical key is his own: a new job, not Alice's.
  auto bob = store_->Insert(NewJob("b1", 0, "key", "", "bob"), 100, &existed);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_FALSE(existed);
  EXPECT_EQ(bob->owner, "bob");
  auto again = store_->Insert(NewJob("a2", 0, "key", "", "alice"), 100, &existed);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(existed);
  EXPECT_EQ(again->id, "a1");
  // Alice may hold 2 QUEUED jobs; Bob is not affected by her limit.
  Insert(NewJob("a3", 0, "", "", "alice"));
  auto full = store_->Insert(NewJob("a4", 0, "", "", "alice"), QueueLimits(100, 2), &existed);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("max_queued_per_client = 2"), absl::string_view::npos)
      << full.status();
  EXPECT_TRUE(store_->Insert(NewJob("b2", 0, "", "", "bob"), QueueLimits(100, 2), &existed).ok());
}

TEST_F(StoreTest, ListCanBeLimitedToOneOwner) {
  Insert(NewJob("a1", 0, "", "", "alice"));
  Insert(NewJob("b1", 0, "", "", "bob"));
  Insert(NewJob("a2", 0, "", "", "alice"));
  ListQuery q;
  q.owner = "alice";
  auto page = store_->List(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->jobs[0].id, "a2");
  EXPECT_EQ(page->jobs[1].id, "a1");
  EXPECT_EQ(store_->List(ListQuery{})->jobs.size(), 3u);
}

TEST_F(StoreTest, MigratesAVersion1FileKeepingItsJobs) {
  store_.reset();
  const std::string path = dir_.File("v1.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // The version-1 schema as released, with one job in it.
  const char* v1 = R"sql(
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  state INTEGER NOT NULL, priority INTEGER NOT NULL, model TEXT NOT NULL, request BLOB NOT NULL,
  request_hash INTEGER NOT NULL, idempotency_key TEXT, attempts INTEGER NOT NULL DEFAULT 0,
  worker_id TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,
  create_ms INTEGER NOT NULL, start_ms INTEGER, end_ms INTEGER, update_ms INTEGER NOT NULL,
  error_code INTEGER NOT NULL DEFAULT 0, error_message TEXT NOT NULL DEFAULT '',
  result_file TEXT NOT NULL DEFAULT '', result BLOB, progress BLOB);
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_queue_order ON jobs(state, priority DESC, seq);
INSERT INTO jobs (id, state, priority, model, request, request_hash, idempotency_key, create_ms,
  update_ms) VALUES ('old', 1, 0, '', x'', 7, 'k', 1, 1);
PRAGMA user_version = 1;)sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteJobStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->SchemaVersion(), SqliteJobStore::kSchemaVersion);
  auto old = (*store)->Get("old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->owner, "");
  EXPECT_EQ(old->idempotency_key, "k");
}

TEST_F(StoreTest, AnEmptyFileIsRefusedNamingIt) {
  store_.reset();
  const std::string path = dir_.File("empty.db");
  std::ofstream(path).flush();
  ASSERT_EQ(std::filesystem::file_size(path), 0u);
  auto store = SqliteJobStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(store.status().message().find(path), absl::string_view::npos) << store.status();
  EXPECT_NE(store.status().message().find("empty"), absl::string_view::npos) << store.status();
  EXPECT_EQ(std::filesystem::file_size(path), 0u);  // left as found, for the operator
}

TEST_F(StoreTest, ACorruptFileIsRefusedNamingIt) {
  store_.reset();
  const std::string path = dir_.File("garbage.db");
  std::ofstream(path) << std::string(8192, 'x');
  auto store = SqliteJobStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path), absl::string_view::npos) << store.status();
}

TEST_F(StoreTest, TheWalStaysSmall) {
  // Enough transitions (~3 WAL frames each) to pass SQLite's default checkpoint of 1000 frames,
  // after which its WAL stays ~4 MiB.
  JobRecord big = NewJob("x");
  big.request.set_prompt(std::string(3000, 'p'));  // each insert dirties a page or two
  for (int i = 0; i < 400; ++i) {
    big.id = absl::StrCat("j", i);
    Insert(big, 100000);
  }
  std::error_code ec;
  const auto wal = std::filesystem::file_size(dir_.File("jobs.db") + "-wal", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_LE(static_cast<int64_t>(wal), 2 * SqliteJobStore::kWalSizeLimitBytes);
}

TEST_F(StoreTest, DiskFullAtCommitIsResourceExhaustedAndPassesWhenSpaceReturns) {
  Insert(NewJob("before"));
  reel::testing::SetDiskFull(true);
  const int refused = reel::testing::refused_writes();
  bool existed = false;
  auto full = store_->Insert(NewJob("during"), 100, &existed);
  reel::testing::SetDiskFull(false);
  ASSERT_GT(reel::testing::refused_writes(), refused) << "the fault was never hit";
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_TRUE(IsStorageFailure(full.status()));
  EXPECT_EQ(store_->Get("during").status().code(), absl::StatusCode::kNotFound);
  // Space is back: the store works, nothing half-written is left.
  Insert(NewJob("after"));
  EXPECT_EQ(store_->Get("before")->state, v1::Job::QUEUED);
  EXPECT_EQ(store_->List(ListQuery{})->jobs.size(), 2u);
}

}  // namespace
}  // namespace reel::gateway
