#include "pipeline/model/weights.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/safetensors.h"

namespace reel {

absl::StatusOr<WeightStore> WeightStore::Open(const std::string& path) {
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  if (!file.ok()) return file.status();
  return FromTensors(std::move(file->tensors), path);
}

WeightStore WeightStore::FromTensors(std::map<std::string, Tensor> tensors, std::string origin) {
  WeightStore w;
  w.tensors_ = std::move(tensors);
  w.origin_ = std::move(origin);
  for (const auto& [name, t] : w.tensors_) w.parameter_bytes_ += static_cast<int64_t>(t.bytes());
  return w;
}

Tensor WeightStore::Take(const std::string& name, const Shape& shape) { return TakeAs(name, shape, shape); }

Tensor WeightStore::TakeAs(const std::string& name, const Shape& stored, const Shape& as) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    errors_.push_back(absl::StrCat("weight '", name, "' missing (expected shape ", ShapeString(stored), ")"));
    return Tensor();
  }
  taken_.insert(name);
  if (it->second.shape() != stored) {
    errors_.push_back(absl::StrCat("weight '", name, "': shape ", ShapeString(it->second.shape()),
                                   ", expected ", ShapeString(stored)));
    return Tensor();
  }
  absl::StatusOr<Tensor> f32 = ops::Cast(it->second, DType::kF32);
  if (!f32.ok()) {
    errors_.push_back(absl::StrCat("weight '", name, "': ", f32.status().message()));
    return Tensor();
  }
  absl::StatusOr<Tensor> shaped = f32->Reshape(as);
  if (!shaped.ok()) {
    errors_.push_back(absl::StrCat("weight '", name, "': ", shaped.status().message()));
    return Tensor();
  }
  return *shaped;
}

absl::Status WeightStore::Finish() const {
  std::vector<std::string> problems = errors_;
  for (const auto& [name, t] : tensors_) {
    if (!taken_.count(name)) problems.push_back(absl::StrCat("unexpected weight '", name, "'"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(origin_, ": ", problems.size(), " weight problem(s): ",
                                                 absl::StrJoin(problems, "; ")));
}

}  // namespace reel
