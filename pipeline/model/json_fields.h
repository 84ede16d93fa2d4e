#pragma once
// Strict reading of JSON objects: each known key is consumed once; whatever is left is reported.
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace reel {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {}

  // Reads `key` into `out` if present (keeps the default otherwise); type errors are recorded.
  template <typename T>
  void Optional(const std::string& key, T& out) {
    seen_.insert(key);
    if (!j_.is_object() || !j_.contains(key)) return;
    const nlohmann::json& v = j_.at(key);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) return Fail(key, "a string");
      out = v.get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) return Fail(key, "a boolean");
      out = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) return Fail(key, "an integer");
      out = v.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) return Fail(key, "a number");
      out = v.get<T>();
    } else if constexpr (std::is_same_v<T, std::vector<int>> ||
                         std::is_same_v<T, std::vector<float>>) {
      using Element = typename T::value_type;
      constexpr bool kInts = std::is_integral_v<Element>;
      const char* expected = kInts ? "an array of integers" : "an array of numbers";
      if (!v.is_array()) return Fail(key, expected);
      out.clear();
      for (const auto& e : v) {
        if (kInts ? !e.is_number_integer() : !e.is_number()) return Fail(key, expected);
        out.push_back(e.get<Element>());
      }
    } else {
      out = v;  // nlohmann::json: kept raw for the section's own parser
    }
  }
  template <typename T>
  void Required(const std::string& key, T& out) {
    if (!j_.is_object() || !j_.contains(key)) {
      errors_.push_back(absl::StrCat("missing '", key, "'"));
      seen_.insert(key);
      return;
    }
    Optional(key, out);
  }
  // Call after reading every key: unknown keys and type errors, all listed in one message.
  absl::Status Finish() {
    if (!j_.is_object())
      return absl::InvalidArgumentError(absl::StrCat(where_, ": not a JSON object"));
    for (const auto& [k, v] : j_.items()) {
      if (!seen_.count(k)) errors_.push_back(absl::StrCat("unknown key '", k, "'"));
    }
    if (errors_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", absl::StrJoin(errors_, "; ")));
  }
  void Error(const std::string& message) { errors_.push_back(message); }

 private:
  void Fail(const std::string& key, const char* expected) {
    errors_.push_back(absl::StrCat("'", key, "' must be ", expected));
  }
  const nlohmann::json& j_;
  std::string where_;
  std::set<std::string> seen_;
  std::vector<std::string> errors_;
};

}  // namespace reel
