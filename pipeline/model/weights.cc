#include "pipeline/model/weights.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

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

Tensor WeightStore::Take(const std::string& name, const Shape& shape) {
  return TakeAs(name, shape, shape);
}

WeightStore WeightStore::RandomForTesting(uint32_t seed) {
  WeightStore w;
  w.random_ = true;
  w.seed_ = seed;
  w.origin_ = "<random weights>";
  return w;
}

Tensor WeightStore::TakeAs(const std::string& name, const Shape& stored, const Shape& as) {
  return TakeImpl(name, stored, as, /*to_f32=*/true);
}

Tensor WeightStore::TakeStored(const std::string& name, const Shape& shape) {
  return TakeImpl(name, shape, shape, /*to_f32=*/false);
}

Tensor WeightStore::TakeImpl(const std::string& name, const Shape& stored, const Shape& as,
                             bool to_f32) {
  if (random_) {
    std::seed_seq seq{seed_, static_cast<uint32_t>(std::hash<std::string>{}(name))};
    std::mt19937 gen(seq);
    const int64_t fan_in = stored.size() >= 2 ? NumElements(stored) / stored[0] : 16;
    const bool is_norm = name.find("norm") != std::string::npos;
    const float a =
        is_norm ? 0.2f : 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
    std::uniform_real_distribution<float> u(-a, a);
    std::vector<float> v(NumElements(stored));
    for (float& x : v) x = (is_norm ? 1.0f : 0.0f) + u(gen);
    parameter_bytes_ += static_cast<int64_t>(v.size() * 4);
    invented_[name] = *Tensor::FromVector(stored, v);
    return *invented_[name].Reshape(as);
  }
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    errors_.push_back(
        absl::StrCat("weight '", name, "' missing (expected shape ", ShapeString(stored), ")"));
    return Tensor();
  }
  taken_.insert(name);
  if (it->second.shape() != stored) {
    errors_.push_back(absl::StrCat("weight '", name, "': shape ", ShapeString(it->second.shape()),
                                   ", expected ", ShapeString(stored)));
    return Tensor();
  }
  absl::StatusOr<Tensor> value =
      to_f32 ? ops::Cast(it->second, DType::kF32) : absl::StatusOr<Tensor>(it->second);
  if (value.ok() && to_f32 && it->second.dtype() != DType::kF32) converted_bytes_ += value->bytes();
  if (!value.ok()) {
    errors_.push_back(absl::StrCat("weight '", name, "': ", value.status().message()));
    return Tensor();
  }
  absl::StatusOr<Tensor> shaped = value->Reshape(as);
  if (!shaped.ok()) {
    errors_.push_back(absl::StrCat("weight '", name, "': ", shaped.status().message()));
    return Tensor();
  }
  return *shaped;
}

Tensor WeightStore::TakeMatrix(const std::string& name, const Shape& stored, const Shape& as) {
  auto it = tensors_.find(name);
  const bool bf16 = !random_ && it != tensors_.end() && it->second.dtype() == DType::kBF16;
  return TakeImpl(name, stored, as, /*to_f32=*/!bf16);
}

void WeightStore::Ignore(const std::string& prefix) {
  for (auto it = tensors_.lower_bound(prefix);
       it != tensors_.end() && it->first.starts_with(prefix); ++it) {
    taken_.insert(it->first);
  }
}

absl::Status WeightStore::Finish() const {
  std::vector<std::string> problems = errors_;
  for (const auto& [name, t] : tensors_) {
    if (!taken_.count(name)) problems.push_back(absl::StrCat("unexpected weight '", name, "'"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      origin_, ": ", problems.size(), " weight problem(s): ", absl::StrJoin(problems, "; ")));
}

}  // namespace reel
