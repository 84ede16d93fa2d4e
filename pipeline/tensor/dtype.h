#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace reel {

// Storage types. Compute is f32; f16/bf16 are storage formats converted with ops::Cast.
enum class DType : uint8_t { kF32, kF16, kBF16 };

inline constexpr size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }
const char* DTypeName(DType t);
// Parses "f32"/"f16"/"bf16" and safetensors' "F32"/"F16"/"BF16".
absl::StatusOr<DType> ParseDType(std::string_view name);

}  // namespace reel
