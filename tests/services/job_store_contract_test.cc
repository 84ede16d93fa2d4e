// The JobStore contract (services/gateway/job_store.h) on every implementation: SQLite on a file,
// and PostgreSQL on a real server (Debian's postgresql-15) that the fixture starts in a temporary
// directory. The oracle is the documented transition table; durability is checked by reopening;
// exclusive leasing by counting what concurrent leasers got. Backend-specific behaviour (schema
// files, disk full, server restarts) is in sqlite_job_store_test.cc and postgres_job_store_test.cc.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/gateway/postgres_job_store.h"
#include "services/gateway/sqlite_job_store.h"
#include "tests/services/pg_server.h"
#include "tests/services/store_test_jobs.h"
#include "tests/services/temp_dir.h"

namespace reel::gateway {
namespace {

using reel::testing::PgServer;
using reel::testing::TempDir;

// One server for the whole run (initdb costs seconds); each test gets a database of its own.
PgServer* SharedServer(std::string* why_not) {
  static std::string failure;
  static std::unique_ptr<PgServer> server = PgServer::Start(&failure);
  *why_not = failure;
  return server.get();
}

class ContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      std::string why_not;
      PgServer* server = SharedServer(&why_not);
      if (server == nullptr) GTEST_SKIP() << "PostgreSQL not available: " << why_not;
      static int databases = 0;
      const std::string db = absl::StrCat("contract", ++databases);
      ASSERT_TRUE(server->CreateDatabase(db).ok());
      dsn_ = server->Dsn(db);
    }
    auto store = OpenStore();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // Another handle on the same store (a reopened file, another gateway's connection pool).
  absl::StatusOr<std::unique_ptr<JobStore>> OpenStore() {
    if (GetParam() == "postgresql") {
      PostgresStoreOptions options;
      options.dsn = dsn_;
      auto store = PostgresJobStore::Open(options);
      if (!store.ok()) return store.status();
      return std::unique_ptr<JobStore>(*std::move(store));
    }
    auto store = SqliteJobStore::Open(dir_.File("jobs.db"));
    if (!store.ok()) return store.status();
    return std::unique_ptr<JobStore>(*std::move(store));
  }
  JobRecord Insert(const JobRecord& r, int64_t max_queued = 100) {
    return InsertNew(*store_, r, max_queued);
  }
  JobRecord Lease(const std::string& worker = "w1", const std::vector<std::string>& models = {}) {
    auto job = store_->LeaseNext(worker, models, now_);
    EXPECT_TRUE(job.ok() && job->has_value());
    return job.ok() && job->has_value() ? **job : JobRecord{};
  }
  JobRecord Finished(const std::string& id, absl::Time at) {
    Insert(NewJob(id));
    auto running = store_->LeaseNext("w1", {}, at);
    EXPECT_TRUE(running.ok() && running->has_value() && (*running)->id == id);
    Completion ok;
    ok.result_file = id + "-1.mp4";
    auto done = store_->Finish(id, 1, "w1", ok, at);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : JobRecord{};
  }
  TempDir dir_;
  std::string dsn_;
  std::unique_ptr<JobStore> store_;
  absl::Time now_ = absl::FromUnixMillis(1700000001000);
};

INSTANTIATE_TEST_SUITE_P(Stores, ContractTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(ContractTest, InsertedJobsSurviveReopening) {
  JobRecord a = Insert(NewJob("ja", 3, "key-a"));
  EXPECT_GT(a.seq, 0);
  store_.reset();
  auto reopened = OpenStore();
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto got = (*reopened)->Get("ja");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, v1::Job::QUEUED);
  EXPECT_EQ(got->priority, 3);
  EXPECT_EQ(got->request.prompt(), "a red ball");
  EXPECT_EQ(got->idempotency_key, "key-a");
  EXPECT_EQ(got->create_time, absl::FromUnixMillis(1700000000000));
  EXPECT_EQ(got->start_time, absl::InfinitePast());
}

TEST_P(ContractTest, UnknownIdIsNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Cancel("nope", now_).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(ContractTest, IdempotencyKeyReturnsTheEarlierJob) {
  Insert(NewJob("j1", 0, "same"));
  bool existed = false;
  auto again = store_->Insert(NewJob("j2", 0, "same"), 100, &existed);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(existed);
  EXPECT_EQ(again->id, "j1");
  EXPECT_EQ(store_->Get("j2").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(ContractTest, QueueLimitCountsOnlyQueuedJobs) {
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

TEST_P(ContractTest, LeasesByPriorityThenSubmissionOrder) {
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

TEST_P(ContractTest, LeaseOnlyGivesModelsTheWorkerServes) {
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

TEST_P(ContractTest, LeaseStartsAnAttemptAndFinishNeedsThatExactLease) {
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

TEST_P(ContractTest, CancelFollowsTheStateTable) {
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

TEST_P(ContractTest, RequeueRetriesThenFailsAfterMaxAttempts) {
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

TEST_P(ContractTest, RequeueOfACancelRequestedJobCancelsIt) {
  Insert(NewJob("j"));
  Lease();
  ASSERT_TRUE(store_->Cancel("j", now_).ok());
  auto r = store_->Requeue("j", 1, "worker lost", true, 3, now_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, v1::Job::CANCELLED);
}

TEST_P(ContractTest, ReleaseDoesNotCountTowardsFailure) {
  Insert(NewJob("j"));
  for (int i = 0; i < 5; ++i) {
    JobRecord r = Lease();
    auto back = store_->Requeue("j", r.attempts, "released", /*penalize=*/false, 2, now_);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->state, v1::Job::QUEUED);
  }
}

TEST_P(ContractTest, ReclaimOnlyWhileNobodyElseLeasedIt) {
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

TEST_P(ContractTest, RecoverRunningRequeuesEveryRunningJob) {
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

TEST_P(ContractTest, ListPagesNewestFirstAndFiltersByState) {
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

TEST_P(ContractTest, IdempotencyKeysAndQueueLimitsArePerOwner) {
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

TEST_P(ContractTest, ListCanBeLimitedToOneOwner) {
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

TEST_P(ContractTest, DeleteRemovesOnlyFinishedJobs) {
  Insert(NewJob("queued"));
  EXPECT_EQ(store_->Delete("queued").status().code(), absl::StatusCode::kFailedPrecondition);
  Lease();
  EXPECT_EQ(store_->Delete("queued").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get("queued")->state, v1::Job::RUNNING);
  Finished("done", now_);
  auto deleted = store_->Delete("done");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->result_file, "done-1.mp4");
  EXPECT_EQ(store_->Get("done").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("done").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("never").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(ContractTest, DeleteExpiredTakesOldFinishedJobsOldestFirstAndNeverRunningOnes) {
  const absl::Time t0 = now_;
  Finished("old", t0);
  Finished("older", t0 - absl::Hours(2));
  Finished("new", t0 + absl::Hours(1));
  Insert(NewJob("queued"));  // created long ago, never run
  Insert(NewJob("running"));
  ASSERT_TRUE(store_->Cancel("queued", t0).ok());  // CANCELLED at t0: finished, expires too
  Insert(NewJob("waiting"));
  auto running = store_->LeaseNext("w9", {}, t0 - absl::Hours(5));
  ASSERT_TRUE(running.ok() && running->has_value());
  EXPECT_EQ((*running)->id, "running");
  auto first = store_->DeleteExpired(t0 + absl::Minutes(1), 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, "older");
  auto rest = store_->DeleteExpired(t0 + absl::Minutes(1), 100);
  ASSERT_TRUE(rest.ok());
  std::set<std::string> ids;
  for (const JobRecord& j : *first) ids.insert(j.id);
  for (const JobRecord& j : *rest) ids.insert(j.id);
  EXPECT_EQ(ids, (std::set<std::string>{"older", "old", "queued"}));
  EXPECT_EQ(store_->Get("new")->state, v1::Job::SUCCEEDED);
  EXPECT_EQ(store_->Get("running")->state, v1::Job::RUNNING);
  EXPECT_EQ(store_->Get("waiting")->state, v1::Job::QUEUED);
}

// Several leasers at once (two handles on the store, as two gateways have, two threads each):
// every job is leased exactly once.
TEST_P(ContractTest, ConcurrentLeasersNeverGetTheSameJob) {
  constexpr int kJobs = 120;
  for (int i = 0; i < kJobs; ++i) Insert(NewJob(absl::StrCat("j", i)), kJobs + 1);
  auto other = OpenStore();
  ASSERT_TRUE(other.ok()) << other.status();
  std::mutex mu;
  std::multiset<std::string> leased;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    JobStore* store = t % 2 == 0 ? store_.get() : other->get();
    threads.emplace_back([&, store, t] {
      for (;;) {
        auto job = store->LeaseNext(absl::StrCat("w", t), {}, now_);
        if (!job.ok()) {
          ++errors;
          continue;  // e.g. SQLite busy under contention: try again
        }
        if (!job->has_value()) return;
        std::lock_guard<std::mutex> lock(mu);
        leased.insert((*job)->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(leased.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<std::string>(leased.begin(), leased.end()).size(), leased.size())
      << "a job was leased twice";
  auto counts = store_->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[v1::Job::RUNNING], kJobs);
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
}  // namespace reel::gateway
