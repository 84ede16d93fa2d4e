#include "tests/services/pg_server.h"

#include <glob.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace reel::testing {
namespace {

constexpr const char* kUser = "reel";
constexpr const char* kUnprivileged = "nobody";

// The newest installed PostgreSQL's bin directory, or "".
std::string FindBinaries() {
  glob_t found{};
  std::string best;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i) {
      const std::string bin = std::filesystem::path(found.gl_pathv[i]).parent_path().string();
      if (best.empty() || bin > best) best = bin;
    }
  }
  globfree(&found);
  return best;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::unique_ptr<PgServer> PgServer::Start(std::string* why_not, bool durable) {
  std::unique_ptr<PgServer> server(new PgServer());
  server->bin_ = FindBinaries();
  if (server->bin_.empty()) {
    *why_not =
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); install "
        "postgresql-15 (tools/setup.sh does)";
    return nullptr;
  }
  char pattern[] = "/tmp/reel-pg-XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    *why_not = "cannot create a directory under /tmp";
    return nullptr;
  }
  server->dir_ = pattern;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam(kUnprivileged);
    if (pw == nullptr || access("/usr/sbin/runuser", X_OK) != 0) {
      *why_not =
          "running as root, and there is no user 'nobody' or no runuser to start PostgreSQL "
          "as (initdb refuses root)";
      return nullptr;
    }
    if (chown(server->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      *why_not = absl::StrCat("cannot chown ", server->dir_, " to ", kUnprivileged);
      return nullptr;
    }
    server->run_as_ = absl::StrCat("/usr/sbin/runuser -u ", kUnprivileged, " -- ");
  }
  const std::string data = server->dir_ + "/data";
  if (absl::Status s = server->RunAsOwner(
          absl::StrCat(Quote(server->bin_ + "/initdb"), " -D ", Quote(data), " -U ", kUser,
                       " --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync"),
          "initdb");
      !s.ok()) {
    *why_not = std::string(s.message());
    return nullptr;
  }
  // Only a unix socket in our directory.
  std::ofstream(data + "/postgresql.conf", std::ios::app)
      << "listen_addresses = ''\nunix_socket_directories = '" << server->dir_
      << "'\nmax_connections = 100\nshared_buffers = 16MB\n"
      << (durable ? "" : "fsync = off\nfull_page_writes = off\n");
  if (absl::Status s = server->Start(); !s.ok()) {
    *why_not = absl::StrCat(s.message(), "\n", server->log());
    return nullptr;
  }
  return server;
}

PgServer::~PgServer() {
  if (running_) (void)Stop("immediate");
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

absl::Status PgServer::RunAsOwner(const std::string& command, const std::string& what) {
  // From our directory: the server's user may not be able to enter the caller's working
  // directory.
  const std::string line = absl::StrCat("cd ", Quote(dir_), " && ", run_as_, command, " >> ",
                                        Quote(dir_ + "/commands.log"), " 2>&1");
  const int rc = std::system(line.c_str());
  if (rc != 0) {
    std::ifstream in(dir_ + "/commands.log");
    std::stringstream out;
    out << in.rdbuf();
    return absl::InternalError(absl::StrCat(what, " failed (", rc, "): ", out.str()));
  }
  return absl::OkStatus();
}

absl::Status PgServer::Start() {
  absl::Status s = RunAsOwner(absl::StrCat(Quote(bin_ + "/pg_ctl"), " -D ", Quote(dir_ + "/data"),
                                           " -l ", Quote(dir_ + "/server.log"), " -w -t 120 start"),
                              "pg_ctl start");
  running_ = s.ok();
  return s;
}

absl::Status PgServer::Stop(const std::string& mode) {
  absl::Status s = RunAsOwner(absl::StrCat(Quote(bin_ + "/pg_ctl"), " -D ", Quote(dir_ + "/data"),
                                           " -m ", mode, " -w -t 120 stop"),
                              "pg_ctl stop");
  if (s.ok()) running_ = false;
  return s;
}

std::string PgServer::Dsn(const std::string& db) const {
  return absl::StrCat("postgresql:///", db, "?host=", dir_, "&user=", kUser);
}

absl::Status PgServer::Sql(const std::string& db, const std::string& sql) {
  return RunAsOwner(absl::StrCat(Quote(bin_ + "/psql"), " -X -q -v ON_ERROR_STOP=1 -h ",
                                 Quote(dir_), " -U ", kUser, " -d ", Quote(db), " -c ", Quote(sql)),
                    absl::StrCat("psql -c ", sql));
}

absl::Status PgServer::CreateDatabase(const std::string& name) {
  return Sql("postgres", absl::StrCat("CREATE DATABASE \"", name, "\""));
}

std::string PgServer::log() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace reel::testing
