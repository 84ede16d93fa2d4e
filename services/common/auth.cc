#include "services/common/auth.h"

#include <fstream>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace reel::service {
namespace {

// Compares without an early exit, so that response timing does not reveal how much of a guess
// matched. (A length mismatch may exit early: token lengths are not secret.)
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::Status CheckToken(absl::string_view token, const std::string& path, int line) {
  if (token.size() < kMinTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": a token needs at least ",
                                                   kMinTokenBytes, " bytes, this one has ",
                                                   token.size()));
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line, ": tokens are printable ASCII without spaces"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenSet> TokenSet::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  TokenSet set;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const absl::string_view token = absl::StripAsciiWhitespace(line);
    if (token.empty() || token.front() == '#') continue;
    if (absl::Status s = CheckToken(token, path, n); !s.ok()) return s;
    set.Add(std::string(token));
  }
  if (!set.enabled()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no token"));
  return set;
}

bool TokenSet::Accepts(absl::string_view token) const {
  bool ok = false;
  for (const std::string& t : tokens_) ok |= ConstantTimeEquals(token, t);
  return ok;
}

absl::Status TokenSet::Check(const grpc::ServerContext& context) const {
  if (!enabled()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this server requires `authorization: Bearer <token>` metadata");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme) || !Accepts(value.substr(kScheme.size()))) {
    return absl::UnauthenticatedError("unknown bearer token");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFirstToken(const std::string& path) {
  absl::StatusOr<TokenSet> set = TokenSet::FromFile(path);
  if (!set.ok()) return set.status();
  return set->tokens().front();
}

std::string RandomToken() {
  absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

}  // namespace reel::service
