#include "services/common/flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace reel::service {

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

const FlagSet::Flag* FlagSet::Find(absl::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void FlagSet::String(std::string name, std::string* value, std::string help) {
  Add({std::move(name), std::move(help), absl::StrCat("\"", *value, "\""), false,
       [value](absl::string_view v) {
         *value = std::string(v);
         return true;
       }});
}

void FlagSet::Int(std::string name, int* value, std::string help) {
  Add({std::move(name), std::move(help), absl::StrCat(*value), false,
       [value](absl::string_view v) { return absl::SimpleAtoi(v, value); }});
}

void FlagSet::Int64(std::string name, int64_t* value, std::string help) {
  Add({std::move(name), std::move(help), absl::StrCat(*value), false,
       [value](absl::string_view v) { return absl::SimpleAtoi(v, value); }});
}

void FlagSet::Uint64(std::string name, uint64_t* value, std::string help) {
  Add({std::move(name), std::move(help), absl::StrCat(*value), false,
       [value](absl::string_view v) { return absl::SimpleAtoi(v, value); }});
}

void FlagSet::Double(std::string name, double* value, std::string help) {
  Add({std::move(name), std::move(help), absl::StrCat(*value), false,
       [value](absl::string_view v) { return absl::SimpleAtod(v, value); }});
}

void FlagSet::Bool(std::string name, bool* value, std::string help) {
  Add({std::move(name), std::move(help), *value ? "true" : "false", true,
       [value](absl::string_view v) { return absl::SimpleAtob(v, value); }});
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string_view>& args) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg(args[i].data(), args[i].size());
    if (arg == "--") {
      for (++i; i < args.size(); ++i) positional.emplace_back(args[i].data(), args[i].size());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    if (arg == "help" || arg == "h") {
      help_requested_ = true;
      continue;
    }
    absl::string_view name = arg, value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = Find(name);
    if (flag == nullptr && !has_value && name.substr(0, 2) == "no") {
      // --noname for a boolean flag.
      if (const Flag* negated = Find(name.substr(2)); negated != nullptr && negated->is_bool) {
        negated->set("false");
        continue;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        ++i;
        value = absl::string_view(args[i].data(), args[i].size());
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (!flag->set(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, ": cannot parse '", value, "'"));
    }
  }
  return positional;
}

std::string FlagSet::Help() const {
  std::string out = absl::StrCat("usage: ", usage_, "\n");
  if (!flags_.empty()) absl::StrAppend(&out, "\noptions:\n");
  for (const Flag& f : flags_) {
    absl::StrAppend(&out, "  --", f.name, "  ", f.help, " (default ", f.default_text, ")\n");
  }
  return out;
}

std::vector<std::string> SplitList(absl::string_view list) {
  return absl::StrSplit(list, ',', absl::SkipEmpty());
}

}  // namespace reel::service
