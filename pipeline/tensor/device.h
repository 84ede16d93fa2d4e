#pragma once
#include <string>

namespace reel {

enum class DeviceType { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;
  static Device Cpu() { return {}; }
  static Device Cuda(int index = 0) { return {DeviceType::kCuda, index}; }
  bool is_cpu() const { return type == DeviceType::kCpu; }
  friend bool operator==(const Device&, const Device&) = default;
};

std::string DeviceName(const Device& d);

// What this binary can run on, for `reel version` and the start-up log line.
struct BackendInfo {
  std::string cpu_isa;      // best vector ISA the CPU supports: "avx512f", "avx2", "sse4.2", ...
  int cpu_threads = 0;      // OpenMP threads the CPU ops use
  bool cuda_built = false;  // compiled with the CUDA backend
  bool cuda_available = false;
  std::string cuda_detail;  // device name, or why CUDA is not used
};

BackendInfo DescribeBackends();
// The start-up log line of every binary that runs the model: what it could compute on, and why
// CUDA is not usable when it is not ("backend: cpu (avx2+fma, 2 threads); cuda: not usable,
// <reason>"). Which one a model uses is the --device choice (placement.h ResolvePlacement).
std::string BackendLine(const BackendInfo& info);

}  // namespace reel
