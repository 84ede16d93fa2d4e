#include "pipeline/tensor/device_memory.h"

#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

#ifdef REEL_HAVE_CUDA
#include "kernels/cuda/runtime.h"
#include "pipeline/tensor/cuda_context.h"
#endif

namespace reel {
namespace {

#ifdef REEL_HAVE_CUDA
namespace kc = kernels::cuda;

// Tensors of one GPU: stream-ordered allocations from the device's default pool (cuda_context.cc
// keeps its memory instead of returning it to the driver), freed on the same stream.
class CudaAllocator final : public Allocator {
 public:
  explicit CudaAllocator(int device) : device_(device) {}
  Device device() const override { return Device::Cuda(device_); }
  absl::StatusOr<Buffer> Allocate(size_t bytes) override {
    if (bytes == 0) return Buffer{};
    REEL_ASSIGN_OR_RETURN(const cuda_context::Context ctx, cuda_context::For(device_));
    void* p = nullptr;
    const cudaError_t err = cudaMallocAsync(&p, bytes, ctx.stream);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return kc::FromCudaError(
          err, absl::StrCat("allocating ", bytes, " bytes on ", DeviceName(device())));
    }
    cudaStream_t stream = ctx.stream;
    return Buffer{std::shared_ptr<void>(p, [stream](void* q) { (void)cudaFreeAsync(q, stream); }),
                  p, bytes};
  }

 private:
  int device_;
};

absl::StatusOr<cudaMemPool_t> PoolOf(int device) {
  REEL_RETURN_IF_ERROR(cuda_context::For(device).status());  // configures the pool
  cudaMemPool_t pool = nullptr;
  REEL_RETURN_IF_ERROR(
      kc::FromCudaError(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool"));
  return pool;
}
#endif

}  // namespace

absl::Status CheckDeviceUsable(const Device& device) {
  if (device.is_cpu()) return absl::OkStatus();
#ifdef REEL_HAVE_CUDA
  // Probed once: every GPU allocation asks, and cudaGetDeviceProperties costs milliseconds.
  static const kc::CudaProbe probe = kc::ProbeCuda();
  if (probe.device_count == 0) {
    return absl::UnavailableError(
        absl::StrCat(DeviceName(device), " requested, but CUDA is not usable here: ", probe.why,
                     ". Run with --device cpu (or auto)."));
  }
  if (device.index < 0 || device.index >= probe.device_count) {
    return absl::UnavailableError(
        absl::StrCat(DeviceName(device), " requested, but this machine has ", probe.device_count,
                     " usable CUDA device", probe.device_count == 1 ? "" : "s"));
  }
  return absl::OkStatus();
#else
  return absl::UnavailableError(
      absl::StrCat(DeviceName(device),
                   " requested, but this binary was built without the CUDA backend (no nvcc at "
                   "build time, or -DREEL_CUDA=OFF). Run with --device cpu."));
#endif
}

absl::StatusOr<Allocator*> AllocatorFor(const Device& device) {
  if (device.is_cpu()) return &CpuAllocator::Default();
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(device));
#ifdef REEL_HAVE_CUDA
  static std::mutex mu;
  static auto* allocators = new std::map<int, std::unique_ptr<CudaAllocator>>();  // never deleted
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<CudaAllocator>& a = (*allocators)[device.index];
  if (a == nullptr) a = std::make_unique<CudaAllocator>(device.index);
  return a.get();
#else
  return absl::InternalError("unreachable");
#endif
}

absl::StatusOr<Tensor> ToDevice(const Tensor& t, const Device& device) {
  if (t.device() == device) return t;
  REEL_ASSIGN_OR_RETURN(Tensor src, t.Contiguous());
  REEL_ASSIGN_OR_RETURN(Allocator * alloc, AllocatorFor(device));
  REEL_ASSIGN_OR_RETURN(Tensor dst, Tensor::Empty(src.shape(), src.dtype(), alloc));
  if (src.bytes() == 0) return dst;
#ifdef REEL_HAVE_CUDA
  if (src.device().is_cpu()) {
    // Pageable host memory: cudaMemcpyAsync stages it before returning, so `src` may go away.
    REEL_ASSIGN_OR_RETURN(const cuda_context::Context ctx, cuda_context::For(device.index));
    REEL_RETURN_IF_ERROR(
        kc::FromCudaError(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.bytes(),
                                          cudaMemcpyHostToDevice, ctx.stream),
                          absl::StrCat("copying ", src.bytes(), " bytes to ", DeviceName(device))));
    return dst;
  }
  REEL_ASSIGN_OR_RETURN(const cuda_context::Context ctx, cuda_context::For(src.device().index));
  if (device.is_cpu()) {
    REEL_RETURN_IF_ERROR(kc::CopyToHost(dst.raw_data(), src.raw_data(), src.bytes(), ctx.stream));
    return dst;
  }
  // GPU to GPU: through the host, which is rare (worker groups use one GPU per process).
  REEL_ASSIGN_OR_RETURN(Tensor host, ToDevice(src, Device::Cpu()));
  return ToDevice(host, device);
#else
  return absl::InternalError("unreachable");
#endif
}

absl::Status Synchronize(const Device& device) {
  if (device.is_cpu()) return absl::OkStatus();
#ifdef REEL_HAVE_CUDA
  REEL_ASSIGN_OR_RETURN(const cuda_context::Context ctx, cuda_context::For(device.index));
  return kc::FromCudaError(cudaStreamSynchronize(ctx.stream),
                           absl::StrCat("waiting for ", DeviceName(device)));
#else
  return CheckDeviceUsable(device);
#endif
}

absl::StatusOr<DeviceMemoryStats> MemoryStats(const Device& device) {
  DeviceMemoryStats s;
  if (device.is_cpu()) return s;
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(device));
#ifdef REEL_HAVE_CUDA
  REEL_ASSIGN_OR_RETURN(cudaMemPool_t pool, PoolOf(device.index));
  uint64_t used = 0, high = 0, reserved = 0;
  REEL_RETURN_IF_ERROR(kc::FromCudaError(
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used), "pool used"));
  REEL_RETURN_IF_ERROR(kc::FromCudaError(
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high), "pool high"));
  REEL_RETURN_IF_ERROR(
      kc::FromCudaError(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved),
                        "pool reserved"));
  s.in_use_bytes = static_cast<int64_t>(used);
  s.peak_bytes = static_cast<int64_t>(high);
  s.reserved_bytes = static_cast<int64_t>(reserved);
#endif
  return s;
}

absl::Status ResetPeakMemory(const Device& device) {
  if (device.is_cpu()) return absl::OkStatus();
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(device));
#ifdef REEL_HAVE_CUDA
  REEL_ASSIGN_OR_RETURN(cudaMemPool_t pool, PoolOf(device.index));
  uint64_t zero = 0;  // the only value the runtime accepts: restarts the high-water mark
  return kc::FromCudaError(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero),
                           "resetting the pool's high-water mark");
#else
  return absl::OkStatus();
#endif
}

absl::StatusOr<DeviceChoice> ResolveDevice(const std::string& flag) {
  if (flag == "cpu") return DeviceChoice{Device::Cpu(), "cpu (requested)"};
  if (flag == "auto" || flag.empty()) {
    const BackendInfo info = DescribeBackends();
    if (info.cuda_built && info.cuda_available) {
      return DeviceChoice{Device::Cuda(0), absl::StrCat("cuda:0 (auto: ", info.cuda_detail, ")")};
    }
    return DeviceChoice{Device::Cpu(),
                        absl::StrCat("cpu (auto: CUDA not usable, ", info.cuda_detail, ")")};
  }
  Device d = Device::Cuda(0);
  if (flag != "cuda") {
    int index = -1;
    if (!absl::StartsWith(flag, "cuda:") || !absl::SimpleAtoi(flag.substr(5), &index) ||
        index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--device ", flag, ": expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto"));
    }
    d = Device::Cuda(index);
  }
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(d));
  return DeviceChoice{
      d, absl::StrCat(DeviceName(d), " (requested: ", DescribeBackends().cuda_detail, ")")};
}

}  // namespace reel
