#pragma once
// Names in the result directory. They derive from the job id and the lease attempt only, never from
// anything a client sent, so a request cannot steer a write outside the directory or onto another
// job. Each attempt writes its own file: a stale worker cleaning up after a lost lease can never
// delete or overwrite the file of the attempt that won.
#include <string>

#include "absl/strings/string_view.h"

namespace reel::service {

// The VideoSpec.format a request renders to: `requested` ("" for the default) of a video (mp4
// default) or an image (png default; the API's image "webp" is the encoder's "webp-image").
std::string ContainerFormat(bool image, absl::string_view requested);
// "mp4" → "mp4", "jpeg" → "jpg", "webp-image" → "webp", ...
std::string FormatExtension(absl::string_view format);
// "mp4" → "video/mp4", "png" → "image/png", ...
std::string FormatMimeType(absl::string_view format);
// "<job_id>-<attempt>.<ext>"
std::string ResultFileName(absl::string_view job_id, int attempt, absl::string_view format);
// "<job_id>-<attempt>.<ext>.partial": where a progressive sink writes the result while it grows
// (the encoder's ProgressivePartialPath of ResultFileName; tests/services checks they agree), so
// that the gateway can stream it to followers while the job runs.
std::string PartialResultFileName(absl::string_view job_id, int attempt, absl::string_view format);

}  // namespace reel::service
