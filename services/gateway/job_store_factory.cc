#include "services/gateway/job_store_factory.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "services/gateway/postgres_job_store.h"
#include "services/gateway/sqlite_job_store.h"

namespace reel::gateway {

absl::StatusOr<StoreSpec> ParseStoreSpec(const std::string& spec, const std::string& data_dir) {
  StoreSpec out;
  if (spec.empty()) {
    out.location = (std::filesystem::path(data_dir) / "jobs.db").string();
  } else if (absl::StartsWith(spec, "sqlite:") && spec.size() > 7) {
    out.location = spec.substr(7);
  } else if (absl::StartsWith(spec, "postgresql://") || absl::StartsWith(spec, "postgres://")) {
    out.kind = StoreSpec::kPostgres;
    out.location = spec;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--store: '", spec,
                     "' is not sqlite:PATH or a postgresql://USER@HOST/DB URI (empty: SQLite in "
                     "--data)"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const StoreSpec& spec,
                                                       absl::Duration retry_budget) {
  if (spec.kind == StoreSpec::kPostgres) {
    PostgresStoreOptions options;
    options.dsn = spec.location;
    options.retry_budget = retry_budget;
    REEL_ASSIGN_OR_RETURN(std::unique_ptr<PostgresJobStore> store,
                          PostgresJobStore::Open(std::move(options)));
    return std::unique_ptr<JobStore>(std::move(store));
  }
  REEL_ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobStore> store, SqliteJobStore::Open(spec.location));
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace reel::gateway
