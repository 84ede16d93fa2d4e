#pragma once
// Optional bearer-token authentication: a server started with a token file accepts a call only when
// its metadata carries `authorization: Bearer <token>` with one of the file's tokens.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace reel::service {

inline constexpr int kMinTokenBytes = 16;

class TokenSet {
 public:
  TokenSet() = default;  // empty: authentication disabled, every call is accepted

  // One token per line; blank lines and lines starting with '#' are skipped; surrounding whitespace
  // is trimmed. Every token must be at least kMinTokenBytes printable ASCII bytes without spaces,
  // and the file must hold at least one.
  static absl::StatusOr<TokenSet> FromFile(const std::string& path);

  bool enabled() const { return !tokens_.empty(); }
  void Add(std::string token) { tokens_.push_back(std::move(token)); }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // OK when authentication is disabled or the call presents a known token; UNAUTHENTICATED
  // otherwise.
  absl::Status Check(const grpc::ServerContext& context) const;
  bool Accepts(absl::string_view token) const;

 private:
  std::vector<std::string> tokens_;
};

// Reads the first token of a token file (for clients and workers): the same rules as
// TokenSet::FromFile.
absl::StatusOr<std::string> ReadFirstToken(const std::string& path);

// A random token of 32 hex digits (the all-in-one server's own worker uses one).
std::string RandomToken();

}  // namespace reel::service
