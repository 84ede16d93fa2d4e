#include "kernels/cuda/runtime.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/cuda/cublas_api.h"

namespace reel::kernels::cuda {
namespace {

// The kernels are built for sm_80 and sm_90 with PTX, so anything older cannot load them.
constexpr int kMinComputeMajor = 8;

}  // namespace

CudaProbe ProbeCuda() {
  CudaProbe probe;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // Without a driver this is cudaErrorInsufficientDriver / cudaErrorNoDevice; clear the sticky
    // per-thread error so later runtime calls do not report it again.
    (void)cudaGetLastError();
    // The runtime says "driver version is insufficient" also when there is no driver at all (a
    // machine without a GPU), so name both cases rather than suggest an upgrade.
    const std::string what = err == cudaErrorInsufficientDriver
                                 ? "no NVIDIA driver, or one older than this CUDA runtime"
                             : err == cudaErrorNoDevice ? "no CUDA-capable GPU"
                                                        : cudaGetErrorString(err);
    probe.why = absl::StrCat(what, " (", cudaGetErrorName(err), ")");
    return probe;
  }
  if (count <= 0) {
    probe.why = "no CUDA-capable device is detected";
    return probe;
  }
  std::string too_old;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    const cudaError_t perr = cudaGetDeviceProperties(&prop, i);
    if (perr != cudaSuccess) {
      (void)cudaGetLastError();
      absl::StrAppend(&too_old, "device ", i, ": ", cudaGetErrorString(perr), "; ");
      continue;
    }
    if (prop.major < kMinComputeMajor) {
      absl::StrAppend(&too_old, "device ", i, " (", prop.name, ") has compute capability ",
                      prop.major, ".", prop.minor, ", reel's kernels need ", kMinComputeMajor,
                      ".0 or newer; ");
      continue;
    }
    if (probe.device_count == 0) {
      probe.name = absl::StrFormat("%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                                   static_cast<double>(prop.totalGlobalMem) / (1 << 30));
    }
    ++probe.device_count;
  }
  if (probe.device_count == 0) probe.why = too_old;
  return probe;
}

absl::Status FromCudaError(cudaError_t err, absl::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string msg =
      absl::StrCat(what, ": ", cudaGetErrorString(err), " (", cudaGetErrorName(err), ")");
  switch (err) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(msg);
    case cudaErrorInvalidValue:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidMemcpyDirection:
      return absl::InvalidArgumentError(msg);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status FromCublasStatus(cublasStatus_t status, absl::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  // A status came from cuBLAS, so the library is loaded; the number stands in if it is not.
  const absl::StatusOr<const CublasApi*> api = Cublas();
  const std::string msg = api.ok()
                              ? absl::StrCat(what, ": cuBLAS ", (*api)->status_name(status), " (",
                                             (*api)->status_string(status), ")")
                              : absl::StrCat(what, ": cuBLAS status ", static_cast<int>(status));
  switch (status) {
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(msg);
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::InvalidArgumentError(msg);
    case CUBLAS_STATUS_NOT_INITIALIZED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

void DeviceBuffer::Free::operator()(void* p) const {
  // Destructors cannot report; cudaFree only fails if the context is already gone (process exit).
  (void)cudaFree(p);
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return FromCudaError(err, absl::StrCat("cudaMalloc of ", bytes, " bytes"));
  }
  buffer.ptr_.reset(p);
  buffer.bytes_ = bytes;
  return buffer;
}

void StreamBuffer::Free::operator()(void* p) const { (void)cudaFreeAsync(p, stream); }

absl::StatusOr<StreamBuffer> StreamBuffer::Allocate(size_t bytes, cudaStream_t stream) {
  StreamBuffer buffer;
  if (bytes == 0) return buffer;
  void* p = nullptr;
  const cudaError_t err = cudaMallocAsync(&p, bytes, stream);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return FromCudaError(err, absl::StrCat("cudaMallocAsync of ", bytes, " bytes"));
  }
  buffer.ptr_ = std::unique_ptr<void, Free>(p, Free{stream});
  buffer.bytes_ = bytes;
  return buffer;
}

void Stream::Destroy::operator()(cudaStream_t s) const { (void)cudaStreamDestroy(s); }

absl::StatusOr<Stream> Stream::Create() {
  cudaStream_t s = nullptr;
  const cudaError_t err = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return FromCudaError(err, "cudaStreamCreateWithFlags");
  }
  Stream stream;
  stream.stream_.reset(s);
  return stream;
}

absl::Status Stream::Synchronize() const {
  return FromCudaError(cudaStreamSynchronize(get()), "cudaStreamSynchronize");
}

void CublasHandle::Destroy::operator()(cublasHandle_t h) const {
  // A handle exists only if Create() loaded the library.
  if (absl::StatusOr<const CublasApi*> api = Cublas(); api.ok()) (void)(*api)->destroy(h);
}

absl::StatusOr<CublasHandle> CublasHandle::Create() {
  const absl::StatusOr<const CublasApi*> api = Cublas();
  if (!api.ok()) return api.status();
  cublasHandle_t h = nullptr;
  absl::Status status = FromCublasStatus((*api)->create(&h), "cublasCreate");
  if (!status.ok()) return status;
  CublasHandle handle;
  handle.handle_.reset(h);
  status = FromCublasStatus((*api)->set_math_mode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  if (!status.ok()) return status;
  return handle;
}

absl::Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes,
                          cudaStream_t stream) {
  if (bytes == 0) return absl::OkStatus();
  absl::Status status =
      FromCudaError(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream),
                    absl::StrCat("CopyToDevice of ", bytes, " bytes"));
  if (!status.ok()) return status;
  return FromCudaError(cudaStreamSynchronize(stream), "CopyToDevice: cudaStreamSynchronize");
}

absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return absl::OkStatus();
  absl::Status status =
      FromCudaError(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream),
                    absl::StrCat("CopyToHost of ", bytes, " bytes"));
  if (!status.ok()) return status;
  return FromCudaError(cudaStreamSynchronize(stream), "CopyToHost: cudaStreamSynchronize");
}

}  // namespace reel::kernels::cuda
