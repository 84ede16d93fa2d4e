#pragma once
// Argument checks shared by the ops sources (ops.cc, attention_ops.cc); not part of the ops API.
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel::ops::internal {

// Ops compute in f32; 16-bit tensors are converted with Cast first.
absl::Status CheckF32(const Tensor& t, const char* op, const char* arg);
// f32 and row-major on the tensor's own device, copying only when the input is a strided view.
absl::StatusOr<Tensor> Dense(const Tensor& t, const char* op, const char* arg);
// Every given tensor (null entries are skipped) lives on the device of the first: ops never copy
// between devices behind the caller's back.
absl::Status SameDevice(const char* op, std::initializer_list<const Tensor*> tensors);
// A new tensor on `like`'s device: from `alloc` when that allocates there, else the device's own.
absl::StatusOr<Tensor> Output(Shape shape, const Tensor& like, Allocator* alloc,
                              DType dtype = DType::kF32);
// The same, zero-filled on its device (Tensor::Zeros).
absl::StatusOr<Tensor> ZeroedOutput(Shape shape, const Tensor& like, Allocator* alloc);
absl::Status ShapeError(const char* op, const std::string& what);
// Undefined for null, else the dense vector of exactly n elements.
absl::StatusOr<Tensor> OptionalVector(const Tensor* t, int64_t n, const char* op, const char* arg);
const float* PtrOrNull(const Tensor* given, const Tensor& dense);

}  // namespace reel::ops::internal
