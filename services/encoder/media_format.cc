#include "services/encoder/media_format.h"

#include <array>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace reel {
namespace {

constexpr std::array<MediaFormat, 7> kFormats = {{
    {"mp4", "video/mp4", ".mp4", false, "mp4", "libx264", 51},
    {"webm", "video/webm", ".webm", false, "webm", "libvpx-vp9", 63},
    {"gif", "image/gif", ".gif", false, "gif", "gif", 0},
    {"webp", "image/webp", ".webp", false, "webp", "libwebp_anim", 100},
    {"png", "image/png", ".png", true, "", "", 0},
    {"jpeg", "image/jpeg", ".jpg", true, "", "", 100},
    {"webp-image", "image/webp", ".webp", true, "", "", 100},
}};

constexpr std::array<absl::string_view, 10> kX264Presets = {
    "ultrafast", "superfast", "veryfast", "faster",   "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo"};
constexpr std::array<absl::string_view, 3> kVp9Deadlines = {"realtime", "good", "best"};

template <size_t N>
bool Contains(const std::array<absl::string_view, N>& list, absl::string_view s) {
  for (absl::string_view x : list) {
    if (x == s) return true;
  }
  return false;
}

}  // namespace

const MediaFormat* FindMediaFormat(absl::string_view name) {
  for (const MediaFormat& f : kFormats) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string MediaFormatNames() {
  std::vector<absl::string_view> names;
  names.reserve(kFormats.size());
  for (const MediaFormat& f : kFormats) names.push_back(f.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::string> MediaFormatForPath(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == absl::string_view::npos || (slash != absl::string_view::npos && dot < slash)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot tell the format of '", path,
        "': no extension (use .mp4, .webm, .gif, .webp, .png, .jpg or name a format)"));
  }
  const std::string ext = absl::AsciiStrToLower(path.substr(dot));
  if (ext == ".mp4" || ext == ".m4v") return std::string("mp4");
  if (ext == ".webm") return std::string("webm");
  if (ext == ".gif") return std::string("gif");
  if (ext == ".webp") return std::string("webp");
  if (ext == ".png") return std::string("png");
  if (ext == ".jpg" || ext == ".jpeg") return std::string("jpeg");
  return absl::InvalidArgumentError(absl::StrCat("unknown extension '", ext, "' in '", path,
                                                 "'; known: .mp4 .webm .gif .webp .png .jpg"));
}

absl::Status ValidateVideoSpec(const VideoSpec& spec) {
  const MediaFormat* format = FindMediaFormat(spec.format);
  if (format == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown format '", spec.format, "'; expected one of: ", MediaFormatNames()));
  }
  if (spec.width <= 0 || spec.height <= 0 || spec.width > kMaxFrameSide ||
      spec.height > kMaxFrameSide) {
    return absl::InvalidArgumentError(absl::StrCat("frame size ", spec.width, "x", spec.height,
                                                   " is out of range; each side must be in [1, ",
                                                   kMaxFrameSide, "]"));
  }
  if (!std::isfinite(spec.fps) || spec.fps <= 0 || spec.fps > kMaxFps) {
    return absl::InvalidArgumentError(
        absl::StrCat("fps ", spec.fps, " is out of range; expected (0, ", kMaxFps, "]"));
  }
  if (spec.format == "gif" && spec.fps > kMaxGifFps) {
    // GIF delays are whole centiseconds and browsers stretch delays under 2 cs to 10 cs.
    return absl::InvalidArgumentError(
        absl::StrCat("fps ", spec.fps, " is too high for gif; at most ", kMaxGifFps));
  }
  if (spec.frames < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("frames ", spec.frames, " is negative; use 0 when the count is unknown"));
  }
  if (format->single_image && spec.frames > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("format '", spec.format, "' holds a single image, but the spec announces ",
                     spec.frames, " frames"));
  }
  if (format->max_crf > 0 && (spec.crf < -1 || spec.crf > format->max_crf)) {
    return absl::InvalidArgumentError(absl::StrCat("crf ", spec.crf, " is out of range for '",
                                                   spec.format, "'; expected -1 (default) or [0, ",
                                                   format->max_crf, "]"));
  }
  if (!spec.preset.empty()) {
    if (spec.format == "mp4" && !Contains(kX264Presets, spec.preset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown x264 preset '", spec.preset,
                       "'; expected one of: ", absl::StrJoin(kX264Presets, ", ")));
    }
    if (spec.format == "webm" && !Contains(kVp9Deadlines, spec.preset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown VP9 preset '", spec.preset,
                       "'; expected one of: ", absl::StrJoin(kVp9Deadlines, ", ")));
    }
  }
  return absl::OkStatus();
}

int64_t RgbBytes(const VideoSpec& spec, int64_t count) {
  return count * static_cast<int64_t>(spec.width) * spec.height * 3;
}

absl::Status ValidateFrameView(const VideoSpec& spec, const FrameView& view, int64_t next_frame) {
  if (view.count <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("frame block at frame ", view.first_frame,
                                                   " has count ", view.count,
                                                   "; expected at least 1"));
  }
  if (view.width != spec.width || view.height != spec.height) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame block at frame ", view.first_frame, " is ", view.width, "x",
                     view.height, "; the spec says ", spec.width, "x", spec.height));
  }
  if (view.bytes != RgbBytes(spec, view.count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame block at frame ", view.first_frame, " has ", view.bytes, " bytes; ", view.count,
        " RGB24 frames of ", spec.width, "x", spec.height, " take ", RgbBytes(spec, view.count)));
  }
  if (view.first_frame != next_frame) {
    return absl::InvalidArgumentError(absl::StrCat("frame block starts at frame ", view.first_frame,
                                                   "; expected frame ", next_frame,
                                                   " (blocks must arrive in order, without gaps)"));
  }
  const int64_t limit = FindMediaFormat(spec.format)->single_image ? 1 : spec.frames;
  if (limit > 0 && view.first_frame + view.count > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame block ends at frame ", view.first_frame + view.count, "; '", spec.format,
        "' output was announced with ", limit, limit == 1 ? " frame" : " frames"));
  }
  return absl::OkStatus();
}

}  // namespace reel
