#include "pipeline/model/placement.h"

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::StatusOr<ComputePrecision> ParsePrecision(const std::string& name) {
  if (name == "f32") return ComputePrecision::kF32;
  if (name == "bf16") return ComputePrecision::kBf16;
  return absl::InvalidArgumentError(absl::StrCat("precision '", name, "': expected f32 or bf16"));
}

std::string PrecisionName(ComputePrecision p) {
  return p == ComputePrecision::kBf16 ? "bf16" : "f32";
}

absl::StatusOr<Tensor> PlaceWeight(const Tensor& weight, const Placement& placement,
                                   bool projection) {
  if (placement.device.is_cpu() || !weight.defined() || weight.numel() == 0) return weight;
  const DType want =
      projection && placement.precision == ComputePrecision::kBf16 ? DType::kBF16 : DType::kF32;
  // Upload as stored (a mapped bf16 checkpoint moves half the bytes), then convert on the device.
  REEL_ASSIGN_OR_RETURN(Tensor on_device, ToDevice(weight, placement.device));
  if (on_device.dtype() == want) return on_device;
  return ops::Cast(on_device, want);
}

}  // namespace reel
