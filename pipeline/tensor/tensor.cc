#include "pipeline/tensor/tensor.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/cast.h"
#include "kernels/cpu/elementwise.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/gpu_call.h"

#ifdef REEL_HAVE_CUDA
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/runtime.h"
#endif

namespace reel {

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

int64_t NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape ContiguousStrides(absl::Span<const int64_t> shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

absl::StatusOr<Tensor> Tensor::Empty(Shape shape, DType dtype, Allocator* allocator) {
  if (static_cast<int>(shape.size()) > kernels::cpu::kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", shape.size(), " exceeds the maximum ", kernels::cpu::kMaxRank));
  }
  for (int64_t d : shape) {
    if (d < 0)
      return absl::InvalidArgumentError(absl::StrCat("negative dim in ", ShapeString(shape)));
  }
  if (allocator == nullptr) allocator = &CpuAllocator::Default();
  absl::StatusOr<Buffer> buffer =
      allocator->Allocate(static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype));
  if (!buffer.ok()) return buffer.status();
  Tensor t;
  t.buffer_ = *std::move(buffer);
  t.strides_ = ContiguousStrides(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = allocator->device();
  return t;
}

absl::StatusOr<Tensor> Tensor::Zeros(Shape shape, DType dtype, Allocator* allocator) {
  REEL_ASSIGN_OR_RETURN(Tensor t, Empty(std::move(shape), dtype, allocator));
  if (t.bytes() == 0) return t;
  if (OnGpu(t)) {
    REEL_ON_GPU(t, kernels::cuda::FromCudaError(
                       cudaMemsetAsync(t.raw_data(), 0, t.bytes(), ctx.stream), "cudaMemsetAsync"));
  } else {
    std::memset(t.raw_data(), 0, t.bytes());
  }
  return t;
}

absl::StatusOr<Tensor> Tensor::ZerosOn(const Device& device, Shape shape, DType dtype) {
  REEL_ASSIGN_OR_RETURN(Allocator * allocator, AllocatorFor(device));
  return Zeros(std::move(shape), dtype, allocator);
}

absl::StatusOr<Tensor> Tensor::EmptyOn(const Device& device, Shape shape, DType dtype) {
  REEL_ASSIGN_OR_RETURN(Allocator * allocator, AllocatorFor(device));
  return Empty(std::move(shape), dtype, allocator);
}

absl::StatusOr<Tensor> Tensor::FromVector(Shape shape, absl::Span<const float> values) {
  if (NumElements(shape) != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("FromVector: ", values.size(), " values for shape ", ShapeString(shape)));
  }
  absl::StatusOr<Tensor> t = Empty(std::move(shape));
  if (t.ok() && !values.empty()) std::memcpy(t->raw_data(), values.data(), values.size() * 4);
  return t;
}

Tensor Tensor::Wrap(Buffer buffer, Shape shape, DType dtype, Device device) {
  Tensor t;
  t.buffer_ = std::move(buffer);
  t.strides_ = ContiguousStrides(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  return t;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

absl::StatusOr<Tensor> Tensor::Reshape(Shape shape) const {
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) return absl::InvalidArgumentError("Reshape: more than one -1");
      infer = i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0 && known > 0) shape[infer] = numel() / known;
  if (NumElements(shape) != numel()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Reshape: cannot view ", ShapeString(shape_), " as ", ShapeString(shape)));
  }
  if (!is_contiguous()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Reshape of a non-contiguous ", ShapeString(shape_), " view; call Contiguous()"));
  }
  Tensor t = *this;
  t.strides_ = ContiguousStrides(shape);
  t.shape_ = std::move(shape);
  return t;
}

absl::StatusOr<Tensor> Tensor::Permute(absl::Span<const int> order) const {
  if (static_cast<int>(order.size()) != rank()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Permute: ", order.size(), " axes for rank ", rank()));
  }
  Tensor t = *this;
  std::vector<bool> seen(rank(), false);
  for (int i = 0; i < rank(); ++i) {
    const int a = order[i];
    if (a < 0 || a >= rank() || seen[a]) {
      return absl::InvalidArgumentError(
          absl::StrCat("Permute: bad axis order [", absl::StrJoin(order, ","), "]"));
    }
    seen[a] = true;
    t.shape_[i] = shape_[a];
    t.strides_[i] = strides_[a];
  }
  return t;
}

absl::StatusOr<Tensor> Tensor::Slice(int d, int64_t start, int64_t end) const {
  if (d < 0) d += rank();
  if (d < 0 || d >= rank() || start < 0 || end < start || end > shape_[d]) {
    return absl::OutOfRangeError(
        absl::StrCat("Slice(dim ", d, ", ", start, ", ", end, ") of ", ShapeString(shape_)));
  }
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = end - start;
  return t;
}

absl::StatusOr<Tensor> Tensor::Clone(Allocator* allocator) const {
  if (!defined()) return absl::FailedPreconditionError("Clone of an undefined (default) tensor");
  if (allocator == nullptr || !(allocator->device() == device_)) {
    if (allocator != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("Clone of a ", DeviceName(device_), " tensor into ",
                       DeviceName(allocator->device()), " memory: use ToDevice"));
    }
    REEL_ASSIGN_OR_RETURN(allocator, AllocatorFor(device_));
  }
  REEL_ASSIGN_OR_RETURN(Tensor out, Empty(shape_, dtype_, allocator));
  if (numel() == 0) return out;
  const int elem = static_cast<int>(DTypeSize(dtype_));
  if (OnGpu(*this)) {
    REEL_ON_GPU(*this,
                kernels::cuda::StridedCopy(rank(), shape_.data(), raw_data(), strides_.data(),
                                           out.raw_data(), out.strides_.data(), elem, ctx.stream));
  } else {
    kernels::cpu::StridedCopy(rank(), shape_.data(), raw_data(), strides_.data(), out.raw_data(),
                              out.strides_.data(), elem);
  }
  return out;
}

absl::StatusOr<Tensor> Tensor::Contiguous(Allocator* allocator) const {
  if (is_contiguous()) return *this;
  return Clone(allocator);
}

absl::StatusOr<std::vector<float>> Tensor::ToVector() const {
  if (OnGpu(*this)) {
    REEL_ASSIGN_OR_RETURN(Tensor host, ToDevice(*this, Device::Cpu()));
    return host.ToVector();
  }
  absl::StatusOr<Tensor> c = Contiguous();
  if (!c.ok()) return c.status();
  std::vector<float> out(numel());
  switch (dtype_) {
    case DType::kF32:
      if (!out.empty()) std::memcpy(out.data(), c->raw_data(), out.size() * 4);
      break;
    case DType::kF16:
      kernels::cpu::F16ToF32(c->data<uint16_t>(), out.data(), numel());
      break;
    case DType::kBF16:
      kernels::cpu::Bf16ToF32(c->data<uint16_t>(), out.data(), numel());
      break;
  }
  return out;
}

}  // namespace reel
