#pragma once
// Named weights from a safetensors file, converted to f32 once at load ("pack once, run many"),
// except the bf16 matrices TakeMatrix leaves mapped.
// Every lookup checks the shape; all problems of a load are collected and reported together, so a
// user sees every missing or mis-shaped weight at once instead of one per run.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

class WeightStore {
 public:
  static absl::StatusOr<WeightStore> Open(const std::string& path);
  // For tests: weights already in memory.
  static WeightStore FromTensors(std::map<std::string, Tensor> tensors, std::string origin);

  // A store that invents every weight it is asked for: uniform in ±1/sqrt(fan-in) (1 ± 0.2 for norm
  // weights), deterministic per (seed, name). For invariant tests and benchmarks that need a model
  // of a given shape without a checkpoint; the model's own Take() calls stay the single list of
  // names.
  static WeightStore RandomForTesting(uint32_t seed);
  // The weights a random store has invented so far, under their stored names and shapes (to write a
  // checkpoint the PyTorch reference can load, e.g. for `reel bench`).
  const std::map<std::string, Tensor>& invented() const { return invented_; }

  // The f32 weight `name` with exactly `shape`; on mismatch or absence records an error and returns
  // an empty tensor (check Finish()).
  Tensor Take(const std::string& name, const Shape& shape);
  // Like Take, for weights stored with trailing unit dims (e.g. (out, in, 1, 1) 1x1 convs): the
  // stored shape must equal `stored`, returned reshaped to `as`.
  Tensor TakeAs(const std::string& name, const Shape& stored, const Shape& as);
  // Like TakeAs for a matrix only ops::Linear / ops::TemporalConv3 read: a bf16 weight stays the
  // mapped bf16 view (no 4-byte copy; those ops widen it in panels), any other dtype becomes f32.
  Tensor TakeMatrix(const std::string& name, const Shape& stored, const Shape& as);
  Tensor TakeMatrix(const std::string& name, const Shape& shape) {
    return TakeMatrix(name, shape, shape);
  }
  // Like Take, but in the stored dtype: a zero-copy view of the file's mapping (bf16 stays bf16),
  // for models that convert a weight to f32 only while it is used (the Gemma-2 encoder: 5 GB bf16
  // mapped instead of 10 GB f32 resident).
  Tensor TakeStored(const std::string& name, const Shape& shape);
  // Marks every stored weight whose name starts with `prefix` as used without loading it (weights a
  // checkpoint carries for another consumer, e.g. the VAE encoder the engine never runs).
  void Ignore(const std::string& prefix);
  // Whether `name` is stored (to tell apart layouts of one model, e.g. a "model." prefix).
  bool Contains(const std::string& name) const { return tensors_.count(name) > 0; }
  // OK if every Take succeeded and no stored weight was left unused (misnamed weights are caught).
  absl::Status Finish() const;
  // Bytes of the weights as stored (mapped files) and of the f32 copies Take made.
  int64_t parameter_bytes() const { return parameter_bytes_; }
  int64_t converted_bytes() const { return converted_bytes_; }

 private:
  Tensor TakeImpl(const std::string& name, const Shape& stored, const Shape& as, bool to_f32);

  std::map<std::string, Tensor> tensors_;
  std::set<std::string> taken_;
  std::vector<std::string> errors_;
  std::string origin_;
  int64_t parameter_bytes_ = 0;
  int64_t converted_bytes_ = 0;
  bool random_ = false;
  std::map<std::string, Tensor> invented_;
  uint32_t seed_ = 0;
};

}  // namespace reel
