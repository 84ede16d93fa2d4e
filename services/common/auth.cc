#include "services/common/auth.h"

#include <fstream>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

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

absl::StatusOr<Role> ParseRole(absl::string_view word, const std::string& path, int line) {
  if (word == "client") return Role::kClient;
  if (word == "admin") return Role::kAdmin;
  if (word == "worker") return Role::kWorker;
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": unknown role '", word,
                                                 "' (expected client, admin or worker)"));
}

absl::Status CheckName(absl::string_view name, const std::string& path, int line) {
  bool ok = !name.empty() && name.size() <= kMaxPrincipalBytes;
  for (char c : name) {
    ok &= absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '@' ||
          c == '-';
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": name '", name, "': 1..",
                                                 kMaxPrincipalBytes, " bytes of [A-Za-z0-9._@-]"));
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kClient:
      return "client";
    case Role::kAdmin:
      return "admin";
    case Role::kWorker:
      return "worker";
  }
  return "?";
}

std::string DefaultPrincipalName(absl::string_view token) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : token) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrFormat("client-%08x", static_cast<uint32_t>(h >> 32));
}

absl::StatusOr<TokenSet> TokenSet::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  TokenSet set;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#') continue;
    const std::vector<absl::string_view> words =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": expected `TOKEN [ROLE [NAME]]`"));
    }
    if (absl::Status s = CheckToken(words[0], path, n); !s.ok()) return s;
    Role role = Role::kClient;
    if (words.size() > 1) {
      absl::StatusOr<Role> parsed = ParseRole(words[1], path, n);
      if (!parsed.ok()) return parsed.status();
      role = *parsed;
    }
    std::string name;
    if (words.size() > 2) {
      if (absl::Status s = CheckName(words[2], path, n); !s.ok()) return s;
      name = std::string(words[2]);
    }
    set.Add(std::string(words[0]), role, std::move(name));
  }
  if (!set.enabled()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no token"));
  return set;
}

void TokenSet::Add(std::string token, Role role, std::string name) {
  if (name.empty()) name = DefaultPrincipalName(token);
  entries_.push_back({std::move(token), role, std::move(name)});
}

const TokenSet::Entry* TokenSet::Find(absl::string_view token) const {
  const Entry* found = nullptr;
  for (const Entry& e : entries_) {
    if (ConstantTimeEquals(token, e.token) && found == nullptr) found = &e;
  }
  return found;
}

absl::StatusOr<Principal> TokenSet::Authorize(const grpc::ServerContext& context,
                                              std::initializer_list<Role> allowed) const {
  if (!enabled()) return Principal{};
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return Authorize(nullptr, allowed);
  const std::string value(it->second.data(), it->second.size());
  return Authorize(&value, allowed);
}

absl::StatusOr<Principal> TokenSet::Authorize(const std::string* authorization,
                                              std::initializer_list<Role> allowed) const {
  if (!enabled()) return Principal{};
  if (authorization == nullptr) {
    return absl::UnauthenticatedError(
        "this server requires `authorization: Bearer <token>` metadata");
  }
  const absl::string_view value(*authorization);
  constexpr absl::string_view kScheme = "Bearer ";
  const Entry* entry =
      absl::StartsWithIgnoreCase(value, kScheme) ? Find(value.substr(kScheme.size())) : nullptr;
  if (entry == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  for (Role r : allowed) {
    if (r == entry->role) return Principal{entry->name, entry->role};
  }
  std::vector<std::string> names;
  for (Role r : allowed) names.emplace_back(RoleName(r));
  return absl::PermissionDeniedError(absl::StrCat("this call needs a token with role ",
                                                  absl::StrJoin(names, " or "), "; '", entry->name,
                                                  "' has role ", RoleName(entry->role)));
}

absl::StatusOr<std::string> ReadFirstToken(const std::string& path) {
  absl::StatusOr<TokenSet> set = TokenSet::FromFile(path);
  if (!set.ok()) return set.status();
  return set->entries().front().token;
}

std::string RandomToken() {
  absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

}  // namespace reel::service
