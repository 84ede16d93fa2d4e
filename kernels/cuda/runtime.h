#pragma once
// CUDA runtime pieces shared by every CUDA kernel and its callers: device probing, error mapping to
// absl::Status and RAII owners for device memory, streams and cuBLAS handles. Host-only header: it
// is included from plain C++ files (pipeline/tensor), so it must not need nvcc, and from .cu files,
// so it stays within C++17 (nvcc's dialect here, see CMakeLists.txt).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace reel::kernels::cuda {

// Result of looking for usable GPUs. Never crashes: without a driver or a device, device_count is 0
// and `why` says what the runtime reported (e.g. "no CUDA-capable device is detected").
struct CudaProbe {
  int device_count = 0;  // devices this build can run on (compute capability >= 8.0)
  std::string why;       // empty when device_count > 0
  std::string name;      // first usable device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
};
CudaProbe ProbeCuda();

// OK for cudaSuccess, else a Status naming `what` and the runtime's error (out of memory maps to
// ResourceExhausted, invalid arguments to InvalidArgument, missing driver/device to Unavailable).
absl::Status FromCudaError(cudaError_t err, absl::string_view what);
absl::Status FromCublasStatus(cublasStatus_t status, absl::string_view what);

// Owns device memory from cudaMalloc; freed on destruction. Move-only; a default one is empty.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // bytes == 0 gives an empty buffer without touching the device.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);

  void* data() const { return ptr_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_.get());
  }
  size_t bytes() const { return bytes_; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> ptr_;
  size_t bytes_ = 0;
};

// Scratch memory ordered on a stream (cudaMallocAsync / cudaFreeAsync): kernels queued on `stream`
// before destruction finish using it before the pool hands it out again, so no synchronization.
class StreamBuffer {
 public:
  StreamBuffer() = default;
  static absl::StatusOr<StreamBuffer> Allocate(size_t bytes, cudaStream_t stream);

  void* data() const { return ptr_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_.get());
  }
  size_t bytes() const { return bytes_; }

 private:
  struct Free {
    cudaStream_t
        stream;  // no default member initializer: unique_ptr needs it default-constructible
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> ptr_;
  size_t bytes_ = 0;
};

// Owns a non-blocking stream (it does not synchronize with the legacy default stream).
class Stream {
 public:
  Stream() = default;
  static absl::StatusOr<Stream> Create();

  cudaStream_t get() const { return stream_.get(); }
  absl::Status Synchronize() const;

 private:
  struct Destroy {
    void operator()(cudaStream_t s) const;
  };
  std::unique_ptr<CUstream_st, Destroy> stream_;
};

// Owns a cuBLAS handle. Math mode is CUBLAS_DEFAULT_MATH: f32 GEMMs stay in f32 (no TF32 tensor
// cores), so results match the CPU backend within f32 rounding. Kernels bind it to their stream per
// call.
class CublasHandle {
 public:
  CublasHandle() = default;
  static absl::StatusOr<CublasHandle> Create();

  cublasHandle_t get() const { return handle_.get(); }

 private:
  struct Destroy {
    void operator()(cublasHandle_t h) const;
  };
  std::unique_ptr<cublasContext, Destroy> handle_;
};

// Copies between host and device memory on `stream` and waits for the stream, so the host buffer
// may be reused (or freed) on return and earlier work queued on the stream has finished.
absl::Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes,
                          cudaStream_t stream);
absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream);

// Typed conveniences: a new buffer holding `host`, and the first host.size() elements of `src`.
template <typename T>
absl::StatusOr<DeviceBuffer> Upload(absl::Span<const T> host, cudaStream_t stream) {
  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(host.size() * sizeof(T));
  if (!buffer.ok()) return buffer.status();
  if (!host.empty()) {
    absl::Status copied =
        CopyToDevice(buffer->data(), host.data(), host.size() * sizeof(T), stream);
    if (!copied.ok()) return copied;
  }
  return buffer;
}

template <typename T>
absl::Status Download(const DeviceBuffer& src, absl::Span<T> host, cudaStream_t stream) {
  if (host.size() * sizeof(T) > src.bytes()) {
    return absl::InvalidArgumentError("Download: host span is larger than the device buffer");
  }
  if (host.empty()) return absl::OkStatus();
  return CopyToHost(host.data(), src.data(), host.size() * sizeof(T), stream);
}

}  // namespace reel::kernels::cuda
