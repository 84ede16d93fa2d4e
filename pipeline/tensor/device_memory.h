#pragma once
// Tensors on a GPU: the per-device allocator, copies between devices, waiting for a device's queued
// work and its memory figures. Free of CUDA types, so every target can include it; in a build
// without the CUDA backend every call for a GPU device returns UNAVAILABLE with the reason.
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/tensor/allocator.h"
#include "pipeline/tensor/device.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// OK when `device` can run the model's ops; else UNAVAILABLE naming the reason a user can act on
// ("built without CUDA", "no CUDA-capable device is detected", "cuda:3 requested, 1 device").
absl::Status CheckDeviceUsable(const Device& device);

// The allocator tensors on `device` come from: the CPU heap, or the GPU's stream-ordered pool
// (memory freed by one op is reused by the next without a cudaMalloc; the pool keeps what it has
// grown to, so steady-state steps allocate nothing from the driver).
absl::StatusOr<Allocator*> AllocatorFor(const Device& device);

// A copy of `t` on `device` (contiguous; `t` itself when it is already there). Host -> GPU copies
// are queued on the device's stream; GPU -> host copies wait for it, so the result is readable.
absl::StatusOr<Tensor> ToDevice(const Tensor& t, const Device& device);

// Waits until everything queued on `device` has finished (no-op on the CPU), and reports an
// asynchronous kernel failure, if any, as a status.
absl::Status Synchronize(const Device& device);

struct DeviceMemoryStats {
  int64_t in_use_bytes = 0;    // held by live tensors and scratch
  int64_t peak_bytes = 0;      // high-water mark of in_use since the last ResetPeak
  int64_t reserved_bytes = 0;  // taken from the driver by the pool
};
// The GPU pool's figures (all zero on the CPU).
absl::StatusOr<DeviceMemoryStats> MemoryStats(const Device& device);
absl::Status ResetPeakMemory(const Device& device);

// Parses --device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when usable, else the CPU). `why` gets
// the start-up line's explanation of the choice ("cuda:0 (NVIDIA H200, sm_90) ..." or "cpu: no
// CUDA-capable device is detected").
struct DeviceChoice {
  Device device;
  std::string why;
};
absl::StatusOr<DeviceChoice> ResolveDevice(const std::string& flag);

}  // namespace reel
