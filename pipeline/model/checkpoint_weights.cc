#include "pipeline/model/checkpoint_weights.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/model/diffusers_config.h"
#include "pipeline/tensor/safetensors.h"

namespace reel {
namespace fs = std::filesystem;

namespace {

constexpr const char kIndexSuffix[] = ".safetensors.index.json";

absl::StatusOr<std::map<std::string, std::string>> ReadWeightMap(const std::string& path) {
  absl::StatusOr<nlohmann::json> j = ReadJsonFile(path);
  if (!j.ok()) return j.status();
  std::vector<std::string> errors;
  std::map<std::string, std::string> map;
  if (!j->is_object() || !j->contains("weight_map") || !(*j)["weight_map"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no 'weight_map' object"));
  }
  for (const auto& [key, value] : j->items()) {
    // "metadata" holds total_size (informational: each shard's own header is checked instead).
    if (key != "weight_map" && key != "metadata") {
      errors.push_back(absl::StrCat("unknown key '", key, "'"));
    }
  }
  for (const auto& [name, file] : (*j)["weight_map"].items()) {
    if (!file.is_string()) {
      errors.push_back(absl::StrCat("weight_map['", name, "'] is not a file name"));
      continue;
    }
    const std::string f = file.get<std::string>();
    // Shards live next to the index; a path elsewhere is refused rather than followed.
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..") {
      errors.push_back(absl::StrCat("weight_map['", name, "'] = '", f, "' is not a file name"));
      continue;
    }
    map[name] = f;
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", absl::StrJoin(errors, "; ")));
  }
  return map;
}

}  // namespace

absl::StatusOr<WeightStore> OpenComponentWeights(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("no component directory '", dir, "'"));
  }
  std::vector<std::string> indexes, files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(kIndexSuffix)) indexes.push_back(name);
    if (name.ends_with(".safetensors")) files.push_back(name);
  }
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  if (indexes.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": several weight indexes (", absl::StrJoin(indexes, ", "), ")"));
  }
  if (indexes.empty()) {
    if (files.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": expected one .safetensors file or a *", kIndexSuffix, ", found ",
                       files.empty() ? std::string("none") : absl::StrJoin(files, ", ")));
    }
    const std::string path = absl::StrCat(dir, "/", files[0]);
    absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
    if (!file.ok()) return file.status();
    return WeightStore::FromTensors(std::move(file->tensors), path);
  }

  const std::string index_path = absl::StrCat(dir, "/", indexes[0]);
  absl::StatusOr<std::map<std::string, std::string>> weight_map = ReadWeightMap(index_path);
  if (!weight_map.ok()) return weight_map.status();
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [name, shard] : *weight_map) by_shard[shard].insert(name);

  std::vector<std::string> problems;
  std::map<std::string, Tensor> tensors;
  for (const auto& [shard, names] : by_shard) {
    const std::string path = absl::StrCat(dir, "/", shard);
    if (!fs::exists(path, ec)) {
      problems.push_back(absl::StrCat("the index names shard '", shard, "' (", names.size(),
                                      " tensors), which is missing"));
      continue;
    }
    absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
    if (!file.ok()) {
      problems.push_back(std::string(file.status().message()));
      continue;
    }
    for (auto& [name, t] : file->tensors) {
      if (!names.count(name)) {
        problems.push_back(absl::StrCat("shard '", shard, "' holds '", name,
                                        "', which the index does not list there"));
        continue;
      }
      tensors.emplace(name, std::move(t));
    }
    for (const std::string& name : names) {
      if (!tensors.count(name)) {
        problems.push_back(
            absl::StrCat("the index puts '", name, "' in shard '", shard, "', which lacks it"));
      }
    }
  }
  for (const std::string& f : files) {
    if (!by_shard.count(f)) {
      problems.push_back(absl::StrCat("'", f, "' is not named by the index (a stray shard?)"));
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": ", problems.size(),
                                                   " problem(s): ", absl::StrJoin(problems, "; ")));
  }
  return WeightStore::FromTensors(std::move(tensors), dir);
}

}  // namespace reel
