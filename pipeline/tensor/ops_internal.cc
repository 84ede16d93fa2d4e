#include "pipeline/tensor/ops_internal.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::ops::internal {

absl::Status CheckF32(const Tensor& t, const char* op, const char* arg) {
  if (t.dtype() != DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", arg, " is ", DTypeName(t.dtype()), ", expected f32 (Cast first)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Dense(const Tensor& t, const char* op, const char* arg) {
  REEL_RETURN_IF_ERROR(CheckF32(t, op, arg));
  return t.Contiguous();
}

absl::Status SameDevice(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (t == nullptr) continue;
    if (first == nullptr) {
      first = t;
    } else if (!(t->device() == first->device())) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": tensors on ", DeviceName(first->device()), " and ",
                       DeviceName(t->device()), " (move them to one device with ToDevice)"));
    }
  }
  return absl::OkStatus();
}

namespace {

// `alloc` when it allocates on `like`'s device, else that device's own allocator.
absl::StatusOr<Allocator*> AllocatorLike(const Tensor& like, Allocator* alloc) {
  if (alloc != nullptr && alloc->device() == like.device()) return alloc;
  return AllocatorFor(like.device());
}

}  // namespace

absl::StatusOr<Tensor> Output(Shape shape, const Tensor& like, Allocator* alloc, DType dtype) {
  REEL_ASSIGN_OR_RETURN(alloc, AllocatorLike(like, alloc));
  return Tensor::Empty(std::move(shape), dtype, alloc);
}

absl::StatusOr<Tensor> ZeroedOutput(Shape shape, const Tensor& like, Allocator* alloc) {
  REEL_ASSIGN_OR_RETURN(alloc, AllocatorLike(like, alloc));
  return Tensor::Zeros(std::move(shape), DType::kF32, alloc);
}

absl::Status ShapeError(const char* op, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", what));
}

absl::StatusOr<Tensor> OptionalVector(const Tensor* t, int64_t n, const char* op, const char* arg) {
  if (t == nullptr) return Tensor();
  REEL_ASSIGN_OR_RETURN(Tensor c, Dense(*t, op, arg));
  if (c.numel() != n) {
    return ShapeError(op, absl::StrCat(arg, " ", ShapeString(t->shape()), " for width ", n));
  }
  return c;
}

const float* PtrOrNull(const Tensor* given, const Tensor& dense) {
  return given == nullptr ? nullptr : dense.data<float>();
}

}  // namespace reel::ops::internal
