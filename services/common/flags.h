#pragma once
// Command-line flags for one command (`reel serve`, `reel submit`, reel-gateway, ...). Each command
// owns its flags in a local FlagSet instead of process-wide ABSL_FLAGs, so that commands linked
// into the same `reel` binary cannot collide on a name.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reel::service {

class FlagSet {
 public:
  // usage: the first line of --help, e.g. "reel submit [options] PROMPT".
  explicit FlagSet(std::string usage) : usage_(std::move(usage)) {}

  // Each flag writes into *value when given; the value it holds before Parse() is the default.
  void String(std::string name, std::string* value, std::string help);
  void Int(std::string name, int* value, std::string help);
  void Int64(std::string name, int64_t* value, std::string help);
  void Uint64(std::string name, uint64_t* value, std::string help);
  void Double(std::string name, double* value, std::string help);
  void Bool(std::string name, bool* value, std::string help);

  // Accepts --name=value, --name value, -name for either, and for booleans --name, --noname and
  // --name=true|false. "--" ends the flags. Returns the positional arguments. An unknown flag, a
  // missing or malformed value: INVALID_ARGUMENT naming the flag. --help / -h sets
  // help_requested().
  absl::StatusOr<std::vector<std::string>> Parse(const std::vector<std::string_view>& args);

  bool help_requested() const { return help_requested_; }
  // The usage line and every flag with its help and default.
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<bool(absl::string_view)> set;  // false: the value does not parse
  };
  void Add(Flag flag);
  const Flag* Find(absl::string_view name) const;

  std::string usage_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Splits "a,b,,c" into {"a","b","c"}.
std::vector<std::string> SplitList(absl::string_view list);

}  // namespace reel::service
