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

absl::StatusOr<PlacementChoice> ResolvePlacement(const std::string& device_flag,
                                                 const std::string& precision_flag,
                                                 bool sequence_parallel) {
  DeviceChoice device;
  if (sequence_parallel && (device_flag == "auto" || device_flag.empty())) {
    device = {Device::Cpu(), "cpu (auto: a sequence-parallel group runs on the CPU backend)"};
  } else {
    REEL_ASSIGN_OR_RETURN(device, ResolveDevice(device_flag));
  }
  PlacementChoice c;
  c.placement = Placement::Default(device.device);
  if (!precision_flag.empty()) {
    REEL_ASSIGN_OR_RETURN(c.placement.precision, ParsePrecision(precision_flag));
    if (device.device.is_cpu() && c.placement.precision == ComputePrecision::kBf16) {
      return absl::InvalidArgumentError(
          "--precision bf16 needs a GPU (the CPU backend computes in f32; bf16 weights are widened "
          "there)");
    }
  }
  const std::string& why = device.why;
  // device.why starts with the device's name; keep the explanation in parentheses.
  const size_t paren = why.find(" (");
  c.line = absl::StrCat("compute: ", DeviceName(device.device), ", ",
                        PrecisionName(c.placement.precision),
                        paren == std::string::npos ? "" : why.substr(paren));
  return c;
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
