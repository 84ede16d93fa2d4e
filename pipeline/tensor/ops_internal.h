#pragma once
// Argument checks shared by the ops sources (ops.cc, attention_ops.cc); not part of the ops API.
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel::ops::internal {

// Every op runs on f32 CPU tensors today; CUDA tensors are rejected with a clear message rather
// than silently copied (DefaultDevice() keeps generation on the CPU until the CUDA op set is
// complete).
absl::Status CheckF32Cpu(const Tensor& t, const char* op, const char* arg);
// f32, CPU and row-major, copying only when the input is a strided view.
absl::StatusOr<Tensor> Dense(const Tensor& t, const char* op, const char* arg);
absl::Status ShapeError(const char* op, const std::string& what);
// Undefined for null, else the dense vector of exactly n elements.
absl::StatusOr<Tensor> OptionalVector(const Tensor* t, int64_t n, const char* op, const char* arg);
const float* PtrOrNull(const Tensor* given, const Tensor& dense);

}  // namespace reel::ops::internal
