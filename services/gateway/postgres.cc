#include "services/gateway/postgres.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/gateway/sqlite.h"

namespace reel::gateway {
namespace {

constexpr absl::string_view kRetryable = "type.reel.dev/pg-retryable";

absl::StatusCode CodeOfSqlState(absl::string_view state) {
  if (state == "23505") return absl::StatusCode::kAlreadyExists;  // unique_violation
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return absl::StatusCode::kUnavailable;  // connection exception, admin shutdown, starting up
  }
  if (absl::StartsWith(state, "53")) return absl::StatusCode::kResourceExhausted;  // disk full...
  if (absl::StartsWith(state, "XX")) return absl::StatusCode::kDataLoss;  // internal / corrupted
  return absl::StatusCode::kInternal;
}

std::string Shorten(absl::string_view sql) {
  return std::string(sql.size() > 80 ? absl::StrCat(sql.substr(0, 77), "...") : sql);
}

}  // namespace

std::string PgResult::Text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t PgResult::Int(int row, int column) const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(result_.get(), row, column), &v);
  return v;
}

std::string PgResult::Bytes(int row, int column) const {
  if (IsNull(row, column)) return "";
  size_t n = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column)), &n);
  if (raw == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

int64_t PgResult::affected() const {
  int64_t n = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(result_.get()), &n);
  return n;
}

bool IsRetryablePgError(const absl::Status& status) {
  return status.GetPayload(kRetryable).has_value();
}

absl::StatusOr<std::unique_ptr<PgConn>> PgConn::Connect(const std::string& dsn) {
  // A server that is down answers at once (connection refused); one that is unreachable must not
  // hold a gateway thread for the OS's TCP timeout.
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {dsn.c_str(), "5", "reel-gateway", nullptr};
  PGconn* raw = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  std::unique_ptr<PgConn> conn(new PgConn(raw));
  if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
    absl::Status s =
        absl::UnavailableError(absl::StrCat("postgresql: cannot connect to ", RedactDsn(dsn), ": ",
                                            raw ? PQerrorMessage(raw) : "out of memory"));
    s.SetPayload(kRetryable, absl::Cord("1"));
    return AsStorageFailure(s);
  }
  // NOTICEs ("relation already exists, skipping") are for interactive sessions, not our stderr.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  return conn;
}

absl::Status PgConn::ErrorOf(const PGresult* result, absl::string_view sql) const {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const bool lost = broken() || state == nullptr;
  const absl::StatusCode code =
      lost ? absl::StatusCode::kUnavailable : CodeOfSqlState(state ? state : "");
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn_.get());
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  absl::Status status(code, absl::StrCat("postgresql: ", Shorten(sql), ": ",
                                         state ? absl::StrCat("[", state, "] ") : "", message));
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kAborted) {
    status.SetPayload(kRetryable, absl::Cord("1"));
  }
  return code == absl::StatusCode::kAlreadyExists ? status : AsStorageFailure(std::move(status));
}

absl::StatusOr<PgResult> PgConn::Exec(const std::string& sql, const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const PgParam& p : params) {
    values.push_back(p.null ? nullptr : p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  PgResult result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                               values.data(), lengths.data(), formats.data(), /*resultFormat=*/0));
  const ExecStatusType st = result.raw() ? PQresultStatus(result.raw()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return result;
  return ErrorOf(result.raw(), sql);
}

absl::Status PgConn::ExecScript(const std::string& sql) {
  PGresult* raw = PQexec(conn_.get(), sql.c_str());
  PgResult result(raw);
  const ExecStatusType st = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
  return ErrorOf(raw, sql);
}

std::string RedactDsn(const std::string& dsn) {
  std::string out = dsn;
  // URI form: scheme://user:password@host...
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t at = out.find('@', scheme + 3);
    const size_t colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // key=value form (and URI query parameters): password=...
  for (size_t at = out.find("password="); at != std::string::npos;
       at = out.find("password=", at + 1)) {
    const size_t start = at + std::strlen("password=");
    size_t end = out.find_first_of(" &", start);
    if (end == std::string::npos) end = out.size();
    out.replace(start, end - start, "***");
  }
  return out;
}

}  // namespace reel::gateway
