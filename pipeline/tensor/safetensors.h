#pragma once
// safetensors (https://github.com/huggingface/safetensors format): 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str:
// str}}, then the data. Reading maps the file and returns zero-copy tensors that keep the mapping
// alive.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;        // by name
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Validates everything the header claims (JSON shape, dtypes, offsets inside the data section and
// matching the shape, no overlapping tensors, no gaps outside [0, data size)) before any tensor is
// exposed.
absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);
// The same over bytes already in memory (copied into an owned buffer); used by the fuzzer and
// tests.
absl::StatusOr<SafetensorsFile> ParseSafetensors(std::string_view bytes);

// Writes tensors (any device-CPU dtype, any strides) in name order.
absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace reel
