#pragma once
// Minimal RAII over the SQLite C API: a connection, prepared statements with typed binds/columns,
// and a transaction that rolls back unless committed. Errors come back as absl::Status naming the
// SQL.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reel::gateway {

class SqliteStatement;

// True for an error of the database itself (disk full, I/O error, corruption, busy), as opposed to
// a constraint violation or a caller's mistake: what an operator must hear about.
bool IsStorageFailure(const absl::Status& status);
// `status` marked as such a failure (for the other store implementations).
absl::Status AsStorageFailure(absl::Status status);

class SqliteDb {
 public:
  // Opens (creating if needed) a database file with a busy timeout.
  static absl::StatusOr<SqliteDb> Open(const std::string& path);

  // Runs one or more statements that return no rows.
  absl::Status Exec(const std::string& sql);
  absl::StatusOr<SqliteStatement> Prepare(const std::string& sql);
  // The first column of the first row of `sql` as an integer (e.g. a PRAGMA).
  absl::StatusOr<int64_t> QueryInt(const std::string& sql);
  absl::StatusOr<std::string> QueryText(const std::string& sql);
  int64_t changes() const { return sqlite3_changes64(db_.get()); }
  absl::Status Error(absl::string_view what) const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, std::string sql);

  // Bind by 1-based index.
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, absl::string_view text);
  SqliteStatement& BindBlob(int index, absl::string_view bytes);
  SqliteStatement& BindNull(int index);

  // true: a row is available; false: done.
  absl::StatusOr<bool> Step();
  // Steps to completion (for statements without rows).
  absl::Status Run();
  absl::Status Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  std::string sql_;
  absl::Status bind_error_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so that two writers never
// deadlock on an upgrade), ROLLBACK on destruction unless Commit() succeeded.
class SqliteTransaction {
 public:
  static absl::StatusOr<SqliteTransaction> Begin(SqliteDb& db);
  SqliteTransaction(SqliteTransaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  ~SqliteTransaction();
  absl::Status Commit();

 private:
  explicit SqliteTransaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace reel::gateway
