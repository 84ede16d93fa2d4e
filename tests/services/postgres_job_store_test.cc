// What only the PostgreSQL store has: its schema version, a server that restarts or vanishes under
// it, leases that expire unless renewed, the shared worker registry and the change feed between
// gateways. Against a real server the fixture starts (tests/services/pg_server.h).
#include "services/gateway/postgres_job_store.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/gateway/sqlite.h"
#include "tests/services/pg_server.h"

namespace reel::gateway {
namespace {

using reel::testing::PgServer;

JobRecord NewJob(const std::string& id) {
  JobRecord r;
  r.id = id;
  r.request.set_prompt("a red ball");
  r.request_hash = 7;
  r.create_time = absl::Now();
  return r;
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  return done();
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  // Each test restarts or stops the server: a server of its own.
  void SetUp() override {
    std::string why_not;
    server_ = PgServer::Start(&why_not);
    if (server_ == nullptr) GTEST_SKIP() << "PostgreSQL not available: " << why_not;
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<PostgresJobStore> Open(absl::Duration retry_budget = absl::Seconds(60)) {
    PostgresStoreOptions options;
    options.dsn = server_->Dsn();
    options.retry_budget = retry_budget;
    auto store = PostgresJobStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  JobRecord Insert(PostgresJobStore& store, const std::string& id) {
    bool existed = false;
    auto job = store.Insert(NewJob(id), 100, &existed);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : JobRecord{};
  }
  std::unique_ptr<PgServer> server_;
  std::unique_ptr<PostgresJobStore> store_;
};

TEST_F(PostgresStoreTest, MigratesOnceAndRefusesANewerSchema) {
  EXPECT_EQ(*store_->SchemaVersion(), PostgresJobStore::kSchemaVersion);
  // Gateways starting together: one migrates, the others find it done.
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      if (Open() != nullptr) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 3);
  ASSERT_TRUE(server_->Sql("postgres", "UPDATE reel_schema SET version = 99").ok());
  PostgresStoreOptions options;
  options.dsn = server_->Dsn();
  auto newer = PostgresJobStore::Open(options);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("99"), absl::string_view::npos) << newer.status();
}

TEST_F(PostgresStoreTest, CallsDuringAServerRestartWaitAndSucceedOnce) {
  Insert(*store_, "before");
  ASSERT_TRUE(server_->Stop("immediate").ok());  // a crash: recovery from the WAL at start
  std::thread restart([&] {
    absl::SleepFor(absl::Seconds(1));
    ASSERT_TRUE(server_->Start().ok());
  });
  bool existed = true;
  auto during = store_->Insert(NewJob("during"), 100, &existed);  // waits for the server
  restart.join();
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_FALSE(existed);
  EXPECT_GT(store_->retried_transactions(), 0);
  auto page = store_->List(ListQuery{});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 2u);  // each once
  EXPECT_EQ(page->jobs[0].id, "during");
  EXPECT_EQ(page->jobs[1].id, "before");
  auto leased = store_->LeaseNext("w", {}, absl::Now());
  ASSERT_TRUE(leased.ok() && leased->has_value()) << leased.status();
  EXPECT_EQ((*leased)->id, "before");
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsUnavailableAfterTheBudgetThenRecovers) {
  auto impatient = Open(absl::Milliseconds(500));
  ASSERT_NE(impatient, nullptr);
  Insert(*impatient, "a");
  ASSERT_TRUE(server_->Stop("fast").ok());
  bool existed = false;
  auto refused = impatient->Insert(NewJob("b"), 100, &existed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(IsStorageFailure(refused.status()));
  EXPECT_EQ(impatient->Get("a").status().code(), absl::StatusCode::kUnavailable);
  // Ping does not wait out the budget (store_'s is 60 s): /healthz must answer now.
  EXPECT_EQ(store_->Ping().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(server_->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return impatient->Get("a").ok(); }, absl::Seconds(30)));
  EXPECT_TRUE(store_->Ping().ok());
  EXPECT_EQ(impatient->Get("b").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PostgresStoreTest, LeasesExpireUnlessRenewed) {
  Insert(*store_, "j");
  const absl::Time t = absl::FromUnixSeconds(1700000000);
  auto leased = store_->LeaseNext("w1", {}, t);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  EXPECT_EQ(store_->RenewLease("j", 1, "w2", t).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->RenewLease("j", 1, "w1", t + absl::Seconds(5)).ok());
  auto none = store_->RequeueExpiredLeases(t + absl::Seconds(3), 3, t + absl::Seconds(13));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto expired = store_->RequeueExpiredLeases(t + absl::Seconds(6), 3, t + absl::Seconds(16));
  ASSERT_TRUE(expired.ok());
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].state, v1::Job::QUEUED);
  EXPECT_EQ((*expired)[0].attempts, 1);
  EXPECT_EQ(store_->RenewLease("j", 1, "w1", t + absl::Seconds(17)).code(),
            absl::StatusCode::kFailedPrecondition);
  // The worker that outlived it may still take it back, as after a gateway restart.
  auto back = store_->Reclaim("j", 1, "w1", t + absl::Seconds(18));
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_TRUE(store_->RenewLease("j", 1, "w1", t + absl::Seconds(19)).ok());
}

TEST_F(PostgresStoreTest, OtherGatewaysSeeWorkersAndChanges) {
  auto other = Open();
  ASSERT_NE(other, nullptr);
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> heard;
  std::atomic<int> resyncs{0};
  GatewayCluster::Listener listener;
  listener.changed = [&](const std::string& id, const std::string& progress) {
    std::lock_guard<std::mutex> lock(mu);
    heard.emplace_back(id, progress);
  };
  listener.resync = [&] { ++resyncs; };
  ASSERT_TRUE(store_->Listen(listener).ok());
  ASSERT_TRUE(WaitFor([&] { return resyncs.load() > 0; }, absl::Seconds(30)));
  auto heard_of = [&](const std::string& id, const std::string& progress) {
    return WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& [i, p] : heard) {
            if (i == id && p == progress) return true;
          }
          return false;
        },
        absl::Seconds(30));
  };
  Insert(*other, "theirs");
  EXPECT_TRUE(heard_of("theirs", ""));
  v1::Progress progress;
  progress.set_step(3);
  ASSERT_TRUE(other->Publish("theirs", progress.SerializeAsString()).ok());
  EXPECT_TRUE(heard_of("theirs", progress.SerializeAsString()));
  Insert(*store_, "ours");  // its own changes are not echoed back
  Insert(*other, "marker");
  EXPECT_TRUE(heard_of("marker", ""));
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [id, p] : heard) EXPECT_NE(id, "ours");
  }

  v1::ModelDescription tiny;
  tiny.set_name("reel-tiny");
  const absl::Time now = absl::Now();
  ASSERT_TRUE(other->PutWorker("w-elsewhere", {tiny}, now).ok());
  auto live = store_->LiveWorkers(now - absl::Seconds(1));
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->count("w-elsewhere"), 1u);
  EXPECT_EQ(live->at("w-elsewhere").at(0).name(), "reel-tiny");
  EXPECT_TRUE(store_->LiveWorkers(now + absl::Seconds(1))->empty());

  // The feed survives a server restart, and says that it may have missed something.
  const int before = resyncs.load();
  ASSERT_TRUE(server_->Stop("fast").ok());
  ASSERT_TRUE(server_->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return resyncs.load() > before; }, absl::Seconds(30)));
  Insert(*other, "after-restart");
  EXPECT_TRUE(heard_of("after-restart", ""));
  store_->StopListening();
}

}  // namespace
}  // namespace reel::gateway
