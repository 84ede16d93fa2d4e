// The SQLite job store's own behaviour: WAL mode, schema versions and migration from a version-1
// file, files that are empty or not a database, the WAL's size, a full disk. The transition table
// every store shares is checked by job_store_contract_test.cc.
#include "services/gateway/sqlite_job_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/gateway/sqlite.h"
#include "tests/services/full_disk_vfs.h"
#include "tests/services/store_test_jobs.h"
#include "tests/services/temp_dir.h"

namespace reel::gateway {
namespace {

using reel::testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reel::testing::InstallFullDiskVfs();
    auto store = SqliteJobStore::Open(dir_.File("jobs.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  JobRecord Insert(const JobRecord& r, int64_t max_queued = 100) {
    return InsertNew(*store_, r, max_queued);
  }
  TempDir dir_;
  std::unique_ptr<SqliteJobStore> store_;
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
