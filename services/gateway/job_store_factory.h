#pragma once
// The gateway's --store flag: which JobStore to open.
//   ""                      SQLite at <data_dir>/jobs.db (one gateway)
//   sqlite:PATH             SQLite at PATH (one gateway)
//   postgresql://...        PostgreSQL (libpq URI; several gateways may share it)
//   postgres://...          the same
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

struct StoreSpec {
  enum Kind { kSqlite, kPostgres } kind = kSqlite;
  std::string location;  // the SQLite path or the PostgreSQL URI
};

// INVALID_ARGUMENT naming the accepted forms when `spec` is none of them.
absl::StatusOr<StoreSpec> ParseStoreSpec(const std::string& spec, const std::string& data_dir);

// Opens (and migrates) the store. `retry_budget`: how long a PostgreSQL store keeps retrying a
// call while the server is unreachable.
absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const StoreSpec& spec,
                                                       absl::Duration retry_budget);

}  // namespace reel::gateway
