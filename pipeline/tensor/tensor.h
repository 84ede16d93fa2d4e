#pragma once
// Tensor: a shape, element strides, a dtype and a device over a shared Buffer. Views (Reshape of a
// contiguous tensor, Permute, Slice) share the buffer; Contiguous() copies only when needed.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pipeline/tensor/allocator.h"
#include "pipeline/tensor/device.h"
#include "pipeline/tensor/dtype.h"

namespace reel {

using Shape = absl::InlinedVector<int64_t, 6>;
std::string ShapeString(absl::Span<const int64_t> shape);
int64_t NumElements(absl::Span<const int64_t> shape);

class Tensor {
 public:
  Tensor() = default;

  // Uninitialized memory from `allocator` (default: the CPU heap), on the allocator's device.
  static absl::StatusOr<Tensor> Empty(Shape shape, DType dtype = DType::kF32,
                                      Allocator* allocator = nullptr);
  static absl::StatusOr<Tensor> Zeros(Shape shape, DType dtype = DType::kF32,
                                      Allocator* allocator = nullptr);
  // The same from `device`'s default allocator (device_memory.h AllocatorFor).
  static absl::StatusOr<Tensor> EmptyOn(const Device& device, Shape shape,
                                        DType dtype = DType::kF32);
  static absl::StatusOr<Tensor> ZerosOn(const Device& device, Shape shape,
                                        DType dtype = DType::kF32);
  // Copies `values` into a new f32 tensor; values.size() must equal the shape's element count.
  static absl::StatusOr<Tensor> FromVector(Shape shape, absl::Span<const float> values);
  // Zero-copy view of memory someone else owns (e.g. an mmap'ed safetensors file).
  static Tensor Wrap(Buffer buffer, Shape shape, DType dtype, Device device = Device::Cpu());

  bool defined() const { return buffer_.data != nullptr || NumElements(shape_) == 0; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Negative i counts from the end.
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return NumElements(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  size_t bytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype_); }
  bool is_contiguous() const;

  // Typed access to the first element (CPU, caller checks dtype).
  template <typename T>
  T* data() const {
    return reinterpret_cast<T*>(static_cast<char*>(buffer_.data) + offset_ * DTypeSize(dtype_));
  }
  void* raw_data() const { return data<char>(); }
  const Buffer& buffer() const { return buffer_; }

  // -1 in one place is inferred. View when contiguous; error otherwise (call Contiguous() first).
  absl::StatusOr<Tensor> Reshape(Shape shape) const;
  absl::StatusOr<Tensor> Permute(absl::Span<const int> order) const;
  // Elements [start, end) of dimension d, as a view.
  absl::StatusOr<Tensor> Slice(int d, int64_t start, int64_t end) const;
  // A copy in row-major order on the same device (allocator default: the device's), or *this if
  // already contiguous.
  absl::StatusOr<Tensor> Contiguous(Allocator* allocator = nullptr) const;
  // Deep copy (always new memory).
  absl::StatusOr<Tensor> Clone(Allocator* allocator = nullptr) const;

  // f32 values in row-major order (copies, from a GPU too; for tests and I/O, not the hot path).
  absl::StatusOr<std::vector<float>> ToVector() const;

 private:
  Buffer buffer_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  Shape strides_;  // in elements
  DType dtype_ = DType::kF32;
  Device device_;
};

Shape ContiguousStrides(absl::Span<const int64_t> shape);

}  // namespace reel
