#pragma once
// Minimal `--name value` / `--flag` parsing shared by the reel commands: typed getters with
// one-line errors ("--steps: expected an integer, got 'x'"), positional arguments, and a check for
// unknown flags.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace reel::cli {

class Args {
 public:
  // `flags` names the options that take no value (e.g. "quiet"); every other --name takes one.
  static absl::StatusOr<Args> Parse(const std::vector<std::string_view>& argv,
                                    const std::set<std::string>& flags = {});

  bool Has(const std::string& name) const;
  std::string String(const std::string& name, const std::string& fallback);
  absl::StatusOr<int64_t> Int(const std::string& name, int64_t fallback);
  absl::StatusOr<double> Double(const std::string& name, double fallback);
  bool Flag(const std::string& name);
  const std::vector<std::string>& positional() const { return positional_; }
  // INVALID_ARGUMENT naming the first option that no getter asked for.
  absl::Status CheckAllUsed() const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
  std::vector<std::string> positional_;
};

}  // namespace reel::cli
