#pragma once
// Single images (png, jpeg, webp-image) through OpenCV's imencode. Metadata goes into PNG iTXt
// chunks and JPEG COM segments; OpenCV cannot write WebP metadata, so webp-image stills carry none.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/encoder/media_encoder.h"

namespace reel {

// One packed RGB24 picture to file bytes. `crf` follows VideoSpec: -1 for the default quality,
// otherwise quality = 100 - crf for jpeg and webp-image (ignored for png).
absl::StatusOr<std::string> EncodeImage(const uint8_t* rgb, int width, int height,
                                        absl::string_view format, int crf,
                                        const std::map<std::string, std::string>& metadata);

// A MediaEncoder taking exactly one frame; writes `path` if it is set, else hands the bytes to
// `sink`, at Finish().
absl::StatusOr<std::unique_ptr<MediaEncoder>> NewImageEncoder(const VideoSpec& spec,
                                                              const std::string& path,
                                                              ByteSink sink);

}  // namespace reel
