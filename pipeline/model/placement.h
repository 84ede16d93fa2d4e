#pragma once
// Where a model runs: its device and how its projections compute there. Weights are placed once at
// start-up (uploaded to a GPU once, never per step); activations then stay on that device.
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/tensor/device.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

enum class ComputePrecision {
  kF32,   // f32 weights and f32 GEMMs: matches the CPU to f32 rounding
  kBf16,  // projection weights in bf16, activations rounded to bf16 at each projection's input,
          // f32 accumulation and f32 activations everywhere else (the GPU default)
};

struct Placement {
  Device device;
  ComputePrecision precision = ComputePrecision::kF32;
  // The GPU default is bf16 (tensor cores); the CPU computes in f32 (bf16 weights are widened
  // panel by panel there, ops.h Linear).
  static Placement Default(const Device& device) {
    return {device, device.is_cpu() ? ComputePrecision::kF32 : ComputePrecision::kBf16};
  }
};

// The --device and --precision flags of render / serve / reel-worker: device "cpu", "cuda",
// "cuda:N" or "auto" (CUDA when usable); precision "f32", "bf16" or "" (the device's default, see
// Placement::Default). `line` is the start-up line's account of the choice, e.g. "compute: cuda:0,
// bf16 (auto: NVIDIA H200 (sm_90, 139.8 GiB))" or "compute: cpu, f32 (auto: CUDA not usable, no
// NVIDIA driver ...)". A CUDA device that is not usable is an UNAVAILABLE error naming why.
// `sequence_parallel`: the process is a rank of a sequence-parallel group, whose exchanges are host
// tensors, so "auto" means the CPU there (an explicit cuda is refused later, by the renderer).
struct PlacementChoice {
  Placement placement;
  std::string line;
};
absl::StatusOr<PlacementChoice> ResolvePlacement(const std::string& device_flag,
                                                 const std::string& precision_flag,
                                                 bool sequence_parallel = false);

// "f32" or "bf16".
absl::StatusOr<ComputePrecision> ParsePrecision(const std::string& name);
std::string PrecisionName(ComputePrecision p);

// `weight` as the placement wants it. A projection matrix (read only by ops::Linear) becomes bf16
// under kBf16 and f32 under kF32; every other weight (norms, biases, tables, conv kernels) becomes
// f32. On the CPU a weight is returned as it is (mapped bf16 matrices stay mapped).
absl::StatusOr<Tensor> PlaceWeight(const Tensor& weight, const Placement& placement,
                                   bool projection);

}  // namespace reel
