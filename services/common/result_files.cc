#include "services/common/result_files.h"

#include "absl/strings/str_cat.h"

namespace reel::service {

std::string ContainerFormat(bool image, absl::string_view requested) {
  if (requested.empty()) return image ? "png" : "mp4";
  if (image && requested == "webp") return "webp-image";
  return std::string(requested);
}

std::string FormatExtension(absl::string_view format) {
  if (format == "jpeg") return "jpg";
  if (format == "webp-image") return "webp";
  return std::string(format);
}

std::string FormatMimeType(absl::string_view format) {
  if (format == "mp4") return "video/mp4";
  if (format == "webm") return "video/webm";
  if (format == "gif") return "image/gif";
  if (format == "webp" || format == "webp-image") return "image/webp";
  if (format == "png") return "image/png";
  if (format == "jpeg") return "image/jpeg";
  return "application/octet-stream";
}

std::string PartialResultFileName(absl::string_view job_id, int attempt, absl::string_view format) {
  return absl::StrCat(ResultFileName(job_id, attempt, format), ".partial");
}

std::string ResultFileName(absl::string_view job_id, int attempt, absl::string_view format) {
  return absl::StrCat(job_id, "-", attempt, ".", FormatExtension(format));
}

}  // namespace reel::service
