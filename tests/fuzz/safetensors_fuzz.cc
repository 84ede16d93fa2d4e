// libFuzzer target for the safetensors parser: any byte string must give a tensor map or an error
// status, never a crash, a leak or an out-of-bounds read (run under ASan+UBSan by tools/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<reel::SafetensorsFile> f =
      reel::ParseSafetensors(std::string_view(reinterpret_cast<const char*>(data), size));
  if (f.ok()) {
    // Touch every byte a tensor claims, so a bad offset check would be caught by ASan.
    for (const auto& [name, t] : f->tensors) {
      absl::StatusOr<std::vector<float>> v = t.ToVector();
      if (!v.ok()) return 0;
    }
  }
  return 0;
}
