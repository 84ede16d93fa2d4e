#include "services/gateway/sqlite.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace reel::gateway {
namespace {

constexpr int kBusyTimeoutMs = 10000;

constexpr absl::string_view kStorageFailure = "type.reel.dev/storage-failure";

absl::StatusCode CodeOf(int rc) {
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteError(int rc, absl::string_view what, absl::string_view message) {
  const absl::StatusCode code = CodeOf(rc);
  absl::Status status(code, absl::StrCat("sqlite: ", what, ": ", message));
  // Everything but a constraint violation means the store itself is in trouble (disk full, I/O
  // error, corruption, lock timeout): the gateway logs those, and only those.
  if (code != absl::StatusCode::kAlreadyExists) status.SetPayload(kStorageFailure, absl::Cord("1"));
  return status;
}

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  return SqliteError(rc, what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

}  // namespace

absl::Status AsStorageFailure(absl::Status status) {
  status.SetPayload(kStorageFailure, absl::Cord("1"));
  return status;
}

bool IsStorageFailure(const absl::Status& status) {
  return status.GetPayload(kStorageFailure).has_value();
}

absl::StatusOr<SqliteDb> SqliteDb::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  SqliteDb db;
  db.db_.reset(raw);  // sqlite3_open_v2 allocates a handle even on failure; it must be closed
  if (rc != SQLITE_OK) return SqliteError(raw, rc, absl::StrCat("open ", path));
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  sqlite3_extended_result_codes(raw, 0);
  return db;
}

absl::Status SqliteDb::Error(absl::string_view what) const {
  return SqliteError(db_.get(), sqlite3_errcode(db_.get()), what);
}

absl::Status SqliteDb::Exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string text = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  // The same mapping as every other call: a COMMIT that finds the disk full is RESOURCE_EXHAUSTED
  // (retryable once space returns), not INTERNAL.
  return SqliteError(rc, sql.substr(0, 60), text);
}

absl::StatusOr<SqliteStatement> SqliteDb::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK)
    return SqliteError(db_.get(), rc, absl::StrCat("prepare ", sql.substr(0, 60)));
  return SqliteStatement(db_.get(), stmt, sql);
}

absl::StatusOr<int64_t> SqliteDb::QueryInt(const std::string& sql) {
  absl::StatusOr<SqliteStatement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat("sqlite: no row from ", sql));
  return stmt->Int(0);
}

absl::StatusOr<std::string> SqliteDb::QueryText(const std::string& sql) {
  absl::StatusOr<SqliteStatement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat("sqlite: no row from ", sql));
  return stmt->Text(0);
}

SqliteStatement::SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, std::string sql)
    : db_(db), stmt_(stmt), sql_(std::move(sql)) {}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  if (int rc = sqlite3_bind_int64(stmt_.get(), index, value); rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqliteError(db_, rc, absl::StrCat("bind ", index, " of ", sql_.substr(0, 60)));
  }
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, absl::string_view text) {
  if (int rc = sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8);
      rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqliteError(db_, rc, absl::StrCat("bind ", index, " of ", sql_.substr(0, 60)));
  }
  return *this;
}

SqliteStatement& SqliteStatement::BindBlob(int index, absl::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const char kEmpty = 0;
  if (int rc = sqlite3_bind_blob64(stmt_.get(), index, bytes.empty() ? &kEmpty : bytes.data(),
                                   bytes.size(), SQLITE_TRANSIENT);
      rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqliteError(db_, rc, absl::StrCat("bind ", index, " of ", sql_.substr(0, 60)));
  }
  return *this;
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  if (int rc = sqlite3_bind_null(stmt_.get(), index); rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqliteError(db_, rc, absl::StrCat("bind ", index, " of ", sql_.substr(0, 60)));
  }
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, sql_.substr(0, 60));
}

absl::Status SqliteStatement::Run() {
  for (;;) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

absl::Status SqliteStatement::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = absl::OkStatus();
  return absl::OkStatus();
}

int64_t SqliteStatement::Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }

std::string SqliteStatement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  return text ? std::string(reinterpret_cast<const char*>(text),
                            static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column)))
              : std::string();
}

std::string SqliteStatement::Blob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_.get(), column);
  return blob ? std::string(static_cast<const char*>(blob),
                            static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column)))
              : std::string();
}

bool SqliteStatement::IsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

absl::StatusOr<SqliteTransaction> SqliteTransaction::Begin(SqliteDb& db) {
  if (absl::Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  return SqliteTransaction(&db);
}

SqliteTransaction::~SqliteTransaction() {
  if (db_ != nullptr) (void)db_->Exec("ROLLBACK");
}

absl::Status SqliteTransaction::Commit() {
  absl::Status s = db_->Exec("COMMIT");
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace reel::gateway
