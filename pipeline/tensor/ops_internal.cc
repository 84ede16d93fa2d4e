#include "pipeline/tensor/ops_internal.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::ops::internal {

absl::Status CheckF32Cpu(const Tensor& t, const char* op, const char* arg) {
  if (!t.device().is_cpu()) {
    return absl::UnimplementedError(absl::StrCat(op, ": ", arg, " is on ", DeviceName(t.device()),
                                                 "; this op has no CUDA path yet"));
  }
  if (t.dtype() != DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", arg, " is ", DTypeName(t.dtype()), ", expected f32 (Cast first)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Dense(const Tensor& t, const char* op, const char* arg) {
  REEL_RETURN_IF_ERROR(CheckF32Cpu(t, op, arg));
  return t.Contiguous();
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
