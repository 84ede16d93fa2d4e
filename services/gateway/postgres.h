#pragma once
// Minimal RAII over libpq: a connection, parameterised statements (text in, text out; bytea sent
// binary and read back unescaped), and errors as absl::Status classified by SQLSTATE so that the
// caller can tell "the server went away, try again" from "this statement is wrong".
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reel::gateway {

// One statement parameter: NULL, text, or bytes (sent in binary, for bytea columns).
struct PgParam {
  static PgParam Null() { return PgParam{}; }
  static PgParam Text(std::string v) { return PgParam{std::move(v), false, false}; }
  static PgParam Int(int64_t v) { return Text(std::to_string(v)); }
  static PgParam Bytes(std::string v) { return PgParam{std::move(v), false, true}; }

  std::string value;
  bool null = true;
  bool binary = false;
};

class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}
  int rows() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string Text(int row, int column) const;
  int64_t Int(int row, int column) const;
  bool Bool(int row, int column) const { return Text(row, column) == "t"; }
  std::string Bytes(int row, int column) const;  // a bytea column, unescaped
  int64_t affected() const;                      // rows an UPDATE/DELETE changed
  const PGresult* raw() const { return result_.get(); }

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// Retryable: the connection broke or the server is restarting (SQLSTATE classes 08, 57P0x) or the
// transaction lost a serialization race (40001, 40P01). Code UNAVAILABLE or ABORTED.
bool IsRetryablePgError(const absl::Status& status);

class PgConn {
 public:
  // Connects with a short connect_timeout unless `dsn` names one.
  static absl::StatusOr<std::unique_ptr<PgConn>> Connect(const std::string& dsn);

  absl::StatusOr<PgResult> Exec(const std::string& sql, const std::vector<PgParam>& params = {});
  // Runs one or more statements without parameters (schema, BEGIN/COMMIT, LISTEN).
  absl::Status ExecScript(const std::string& sql);
  bool broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }
  PGconn* raw() const { return conn_.get(); }

 private:
  struct Finish {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  explicit PgConn(PGconn* conn) : conn_(conn) {}
  absl::Status ErrorOf(const PGresult* result, absl::string_view sql) const;
  std::unique_ptr<PGconn, Finish> conn_;
};

// The DSN with any password replaced by "***" (for logs and errors).
std::string RedactDsn(const std::string& dsn);

}  // namespace reel::gateway
