#include "tools/reel/cli_args.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace reel::cli {

absl::StatusOr<Args> Args::Parse(const std::vector<std::string_view>& argv,
                                 const std::set<std::string>& flags) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string arg(argv[i]);
    if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (flags.count(name)) {
        value = "true";
      } else {
        if (i + 1 >= argv.size())
          return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
        value = std::string(argv[++i]);
      }
      a.values_[name] = value;
    } else if (arg.size() == 2 && arg[0] == '-' && arg[1] != '-') {
      // Short aliases: -o FILE.
      if (i + 1 >= argv.size())
        return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      a.values_[arg.substr(1)] = std::string(argv[++i]);
    } else {
      a.positional_.push_back(arg);
    }
  }
  return a;
}

bool Args::Has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::String(const std::string& name, const std::string& fallback) {
  used_.insert(name);
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> Args::Int(const std::string& name, int64_t fallback) {
  used_.insert(name);
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected an integer, got '", it->second, "'"));
  }
  return v;
}

absl::StatusOr<double> Args::Double(const std::string& name, double fallback) {
  used_.insert(name);
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double v = 0;
  if (!absl::SimpleAtod(it->second, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected a number, got '", it->second, "'"));
  }
  return v;
}

bool Args::Flag(const std::string& name) {
  used_.insert(name);
  auto it = values_.find(name);
  return it != values_.end() && it->second != "false" && it->second != "0";
}

absl::Status Args::CheckAllUsed() const {
  for (const auto& [name, value] : values_) {
    if (!used_.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option ", name.size() == 1 ? "-" : "--", name));
    }
  }
  return absl::OkStatus();
}

}  // namespace reel::cli
