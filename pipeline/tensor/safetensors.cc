#include "pipeline/tensor/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace reel {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation

// The mapped (or copied) file; tensors hold a shared_ptr to it.
struct Mapping {
  void* data = nullptr;
  size_t size = 0;
  bool mmapped = false;
  ~Mapping() {
    if (data == nullptr) return;
    if (mmapped) {
      munmap(data, size);
    } else {
      std::free(data);
    }
  }
};

absl::StatusOr<SafetensorsFile> ParseMapped(std::shared_ptr<Mapping> map,
                                            const std::string& where) {
  const auto* base = static_cast<const unsigned char*>(map->data);
  if (map->size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": truncated: ", map->size, " bytes, need at least the 8-byte header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > kMaxHeaderBytes || header_len > map->size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": header length ", header_len,
                                                   " exceeds the file (", map->size, " bytes)"));
  }
  const std::string_view header(reinterpret_cast<const char*>(base + 8), header_len);
  const nlohmann::json json = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": header is not a JSON object"));
  }
  const uint64_t data_size = map->size - 8 - header_len;
  char* data = static_cast<char*>(map->data) + 8 + header_len;

  SafetensorsFile file;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": __metadata__ is not an object"));
      }
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": __metadata__['", k, "'] is not a string"));
        }
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string ctx = absl::StrCat(where, ": tensor '", name, "'");
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx, ": expected an object with dtype, shape and data_offsets"));
    }
    const auto& jd = entry["dtype"];
    const auto& js = entry["shape"];
    const auto& jo = entry["data_offsets"];
    if (!jd.is_string())
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": dtype is not a string"));
    absl::StatusOr<DType> dtype = ParseDType(jd.get<std::string>());
    if (!dtype.ok())
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": ", dtype.status().message()));
    if (!js.is_array() || js.size() > 8) {
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": shape must be an array of rank <= 8"));
    }
    Shape shape;
    uint64_t count = 1;
    for (const auto& d : js) {
      if (!d.is_number_unsigned()) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx, ": shape entries must be non-negative integers"));
      }
      const uint64_t v = d.get<uint64_t>();
      if (v != 0 && count > std::numeric_limits<uint64_t>::max() / 16 / v) {
        return absl::InvalidArgumentError(absl::StrCat(ctx, ": shape overflows"));
      }
      count *= v;
      shape.push_back(static_cast<int64_t>(v));
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
        !jo[1].is_number_unsigned()) {
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": data_offsets must be [begin, end]"));
    }
    const uint64_t begin = jo[0].get<uint64_t>();
    const uint64_t end = jo[1].get<uint64_t>();
    if (begin > end) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx, ": data_offsets [", begin, ", ", end, ") are reversed"));
    }
    if (end > data_size) {
      // The usual cause is an interrupted download or copy: say so in those words.
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": truncated: tensor '", name, "' ends at byte ", end, " of the data section, ",
          "which has only ", data_size, " bytes (the file is ", map->size, " bytes)"));
    }
    if (end - begin != count * DTypeSize(*dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": ", end - begin, " bytes for shape ",
                                                     ShapeString(shape), " of ",
                                                     DTypeName(*dtype)));
    }
    if (file.tensors.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": duplicate name"));
    }
    ranges.emplace_back(begin, end);
    char* at = data + begin;
    Buffer buffer{std::shared_ptr<void>(map, at), at, end - begin};
    // The format does not promise alignment (header lengths need not be multiples of 8): a tensor
    // whose bytes are not aligned to its element size is copied, since reading it in place is
    // undefined.
    if (reinterpret_cast<uintptr_t>(at) % DTypeSize(*dtype) != 0) {
      absl::StatusOr<Buffer> copy = CpuAllocator::Default().Allocate(end - begin);
      if (!copy.ok()) return copy.status();
      std::memcpy(copy->data, at, end - begin);
      buffer = *std::move(copy);
    }
    file.tensors.emplace(name, Tensor::Wrap(std::move(buffer), std::move(shape), *dtype));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": tensors overlap at byte ", ranges[i].first));
    }
  }
  return file;
}

}  // namespace

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot stat '", path, "'"));
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size > 0) {
    void* p = ::mmap(nullptr, map->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot map '", path, "': ", std::strerror(errno)));
    }
    map->data = p;
    map->mmapped = true;
  }
  ::close(fd);
  return ParseMapped(std::move(map), path);
}

absl::StatusOr<SafetensorsFile> ParseSafetensors(std::string_view bytes) {
  auto map = std::make_shared<Mapping>();
  map->size = bytes.size();
  map->data = std::malloc(std::max<size_t>(bytes.size(), 1));
  if (map->data == nullptr) return absl::ResourceExhaustedError("out of memory");
  if (!bytes.empty()) std::memcpy(map->data, bytes.data(), bytes.size());
  return ParseMapped(std::move(map), "<memory>");
}

absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<Tensor> ordered;
  for (const auto& [name, t] : tensors) {
    if (!t.device().is_cpu()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is not on the CPU"));
    }
    absl::StatusOr<Tensor> c = t.Contiguous();
    if (!c.ok()) return c.status();
    std::string dtype = absl::AsciiStrToUpper(DTypeName(t.dtype()));
    header[name] = {{"dtype", dtype},
                    {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                    {"data_offsets", {offset, offset + c->bytes()}}};
    offset += c->bytes();
    ordered.push_back(*std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write '", tmp, "'"));
    const uint64_t n = text.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& t : ordered) {
      out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.bytes()));
    }
    if (!out) return absl::DataLossError(absl::StrCat("short write to '", tmp, "'"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

}  // namespace reel
