#pragma once
// A throwaway PostgreSQL server for tests, from Debian's postgresql-15 binaries: initdb + pg_ctl
// in a fresh directory under /tmp, listening only on a unix socket in that directory (no TCP
// port to collide with), stopped and removed on destruction. initdb refuses to run as root, and
// CI runs as root: then every server command runs as the unprivileged user `nobody` (runuser),
// which owns the directory.
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace reel::testing {

class PgServer {
 public:
  // The running server, or nullptr with *why_not saying why (binaries not installed, initdb
  // failed): the caller skips, quoting it. `durable`: fsync on every commit (benchmarks; the tests'
  // crashes are process crashes, which lose nothing the OS already has, so they run without).
  static std::unique_ptr<PgServer> Start(std::string* why_not, bool durable = false);
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // A libpq URI for database `db` on this server (user "reel", trust authentication).
  std::string Dsn(const std::string& db = "postgres") const;
  // CREATE DATABASE `name`; returns its DSN.
  absl::Status CreateDatabase(const std::string& name);
  // Runs one SQL command as the superuser (psql -c).
  absl::Status Sql(const std::string& db, const std::string& sql);

  // Stops (mode "fast": disconnects every client, like a planned restart; "immediate": like a
  // crash, recovery from the WAL at the next start) and starts again.
  absl::Status Stop(const std::string& mode = "fast");
  absl::Status Start();
  const std::string& dir() const { return dir_; }
  std::string log() const;

 private:
  PgServer() = default;
  // Runs `command` (a server binary and its arguments, shell-quoted) as the server's user.
  absl::Status RunAsOwner(const std::string& command, const std::string& what);

  std::string bin_;     // e.g. /usr/lib/postgresql/15/bin
  std::string dir_;     // holds data/, the socket and server.log
  std::string run_as_;  // "runuser -u nobody -- " when root, else ""
  bool running_ = false;
};

}  // namespace reel::testing
