#include "pipeline/tensor/device.h"

#include <omp.h>

#include "absl/strings/str_cat.h"

#ifdef REEL_HAVE_CUDA
#include "kernels/cuda/runtime.h"
#endif

namespace reel {

std::string DeviceName(const Device& d) {
  return d.is_cpu() ? "cpu" : absl::StrCat("cuda:", d.index);
}

namespace {

std::string CpuIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2+fma";
  if (__builtin_cpu_supports("avx")) return "avx";
  if (__builtin_cpu_supports("sse4.2")) return "sse4.2";
  return "baseline x86-64";
}

}  // namespace

BackendInfo DescribeBackends() {
  BackendInfo info;
  info.cpu_isa = CpuIsa();
  info.cpu_threads = omp_get_max_threads();
#ifdef REEL_HAVE_CUDA
  info.cuda_built = true;
  const kernels::cuda::CudaProbe probe = kernels::cuda::ProbeCuda();
  info.cuda_available = probe.device_count > 0;
  info.cuda_detail = info.cuda_available ? probe.name : probe.why;
#else
  info.cuda_detail = "built without CUDA (REEL_CUDA=OFF or no nvcc at build time)";
#endif
  return info;
}

std::string BackendLine(const BackendInfo& info) {
  const std::string cpu =
      absl::StrCat("backend: cpu (", info.cpu_isa, ", ", info.cpu_threads, " threads); cuda: ");
  if (!info.cuda_built || !info.cuda_available)
    return absl::StrCat(cpu, "not usable, ", info.cuda_detail);
  return absl::StrCat(cpu, info.cuda_detail, " available");
}

}  // namespace reel
