#pragma once
// Optional bearer-token authentication with roles: a server started with a token file accepts a
// call only when its metadata carries `authorization: Bearer <token>` with one of the file's
// tokens, and only for the services that token's role may use.
//
// Token file: one entry per line, `TOKEN [ROLE [NAME]]`, whitespace-separated; blank lines and
// lines starting with '#' are skipped.
//   ROLE  client (default): the public API, seeing only its own jobs;
//         admin: the public API, seeing every client's jobs;
//         worker: the internal WorkerService only.
//   NAME  the principal that owns the jobs it submits ([A-Za-z0-9._@-], at most 64 bytes). Default:
//         "client-" + 8 hex digits of a hash of the token (stable, reveals nothing usable).
// Several tokens may share a NAME (key rotation): they are the same principal.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace reel::service {

inline constexpr int kMinTokenBytes = 16;
inline constexpr int kMaxPrincipalBytes = 64;

enum class Role { kClient, kAdmin, kWorker };

absl::string_view RoleName(Role role);

// Who made a call. With authentication off every caller is the anonymous admin: one tenant, all
// jobs visible, as a server without a token file always behaved.
struct Principal {
  std::string name;  // "" when authentication is off
  Role role = Role::kAdmin;

  bool sees_all_jobs() const { return role == Role::kAdmin; }
};

class TokenSet {
 public:
  struct Entry {
    std::string token;
    Role role = Role::kClient;
    std::string name;
  };

  TokenSet() = default;  // empty: authentication disabled, every call is accepted

  // Parses a token file (format above). Every token must be at least kMinTokenBytes printable
  // ASCII bytes without spaces, and the file must hold at least one.
  static absl::StatusOr<TokenSet> FromFile(const std::string& path);

  bool enabled() const { return !entries_.empty(); }
  // name "": the default name for `token`.
  void Add(std::string token, Role role = Role::kClient, std::string name = "");
  const std::vector<Entry>& entries() const { return entries_; }

  // The principal of the call when authentication is disabled or the call presents a known token
  // whose role is one of `allowed`; UNAUTHENTICATED for a missing/unknown token, PERMISSION_DENIED
  // for a known token of another role.
  absl::StatusOr<Principal> Authorize(const grpc::ServerContext& context,
                                      std::initializer_list<Role> allowed) const;
  // The same for the value of an `authorization` header (HTTP); nullptr: no such header.
  absl::StatusOr<Principal> Authorize(const std::string* authorization,
                                      std::initializer_list<Role> allowed) const;
  // The entry that `token` is, or nullptr.
  const Entry* Find(absl::string_view token) const;

 private:
  std::vector<Entry> entries_;
};

// "client-" + 8 hex digits of FNV-1a(token): the name of a token that has none.
std::string DefaultPrincipalName(absl::string_view token);

// Reads the first token of a token file (for clients and workers): the same rules as
// TokenSet::FromFile.
absl::StatusOr<std::string> ReadFirstToken(const std::string& path);

// A random token of 32 hex digits (the all-in-one server's own worker uses one).
std::string RandomToken();

}  // namespace reel::service
