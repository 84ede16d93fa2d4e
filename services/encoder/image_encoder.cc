#include "services/encoder/image_encoder.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

extern "C" {
#include <libavutil/crc.h>
}

namespace reel {
namespace {

constexpr int kDefaultJpegQuality = 95;
constexpr int kDefaultWebpQuality = 90;
constexpr int kPngCompression = 6;  // zlib's default trade-off

void AppendBigEndian32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// PNG keywords are 1-79 printable Latin-1 characters; reel's keys are ASCII already.
std::string PngKeyword(const std::string& key) {
  std::string k;
  for (char c : key) {
    if (c >= 0x20 && c < 0x7F) k.push_back(c);
  }
  if (k.empty()) k = "reel";
  return k.substr(0, 79);
}

// An iTXt chunk (PNG 1.2 §4.2.3.3): UTF-8 text, uncompressed, no language tag. The CRC covers the
// chunk type and data, as CRC-32/ISO-HDLC (the reflected IEEE polynomial, FFmpeg's
// AV_CRC_32_IEEE_LE).
std::string PngTextChunk(const std::string& key, const std::string& value) {
  std::string body = "iTXt" + PngKeyword(key);
  body.push_back('\0');  // keyword terminator
  body.push_back('\0');  // compression flag: none
  body.push_back('\0');  // compression method
  body.push_back('\0');  // empty language tag
  body.push_back('\0');  // empty translated keyword
  body += value;
  std::string chunk;
  AppendBigEndian32(chunk, static_cast<uint32_t>(body.size() - 4));
  chunk += body;
  const uint32_t crc = av_crc(av_crc_get_table(AV_CRC_32_IEEE_LE), 0xFFFFFFFFu,
                              reinterpret_cast<const uint8_t*>(body.data()), body.size()) ^
                       0xFFFFFFFFu;
  AppendBigEndian32(chunk, crc);
  return chunk;
}

// Text chunks go right after IHDR (8-byte signature + 25-byte IHDR chunk), before the pixel data.
absl::Status AddPngMetadata(std::string& png, const std::map<std::string, std::string>& metadata) {
  constexpr size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;
  if (png.size() < kAfterIhdr || png.compare(12, 4, "IHDR") != 0) {
    return absl::InternalError("OpenCV produced a PNG without a leading IHDR chunk");
  }
  std::string chunks;
  for (const auto& [key, value] : metadata) chunks += PngTextChunk(key, value);
  png.insert(kAfterIhdr, chunks);
  return absl::OkStatus();
}

// One COM segment per entry ("key=value"), right after SOI; a segment holds at most 65533 bytes.
absl::Status AddJpegMetadata(std::string& jpeg,
                             const std::map<std::string, std::string>& metadata) {
  if (jpeg.size() < 2 || static_cast<uint8_t>(jpeg[0]) != 0xFF ||
      static_cast<uint8_t>(jpeg[1]) != 0xD8) {
    return absl::InternalError("OpenCV produced a JPEG without an SOI marker");
  }
  std::string segments;
  for (const auto& [key, value] : metadata) {
    const std::string text = absl::StrCat(key, "=", value).substr(0, 65533);
    const size_t length = text.size() + 2;
    segments += "\xFF\xFE";
    segments.push_back(static_cast<char>(length >> 8));
    segments.push_back(static_cast<char>(length & 0xFF));
    segments += text;
  }
  jpeg.insert(2, segments);
  return absl::OkStatus();
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open '", path, "' for writing: ", std::strerror(errno)));
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size() ||
      std::fclose(file.release()) != 0) {
    return absl::DataLossError(absl::StrCat("writing '", path, "' failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

class ImageEncoder final : public MediaEncoder {
 public:
  ImageEncoder(const VideoSpec& spec, const MediaFormat& format, std::string path, ByteSink sink)
      : MediaEncoder(spec), format_(format), path_(std::move(path)), sink_(std::move(sink)) {}

 protected:
  absl::Status EncodeFrames(const uint8_t* rgb, int64_t /*count*/) override {
    // ValidateFrameView already limits single-image formats to one frame.
    frame_.assign(rgb, rgb + RgbBytes(spec(), 1));
    return absl::OkStatus();
  }

  absl::StatusOr<EncodeSummary> FinishEncoding() override {
    REEL_ASSIGN_OR_RETURN(std::string bytes,
                          EncodeImage(frame_.data(), spec().width, spec().height, format_.name,
                                      spec().crf, spec().metadata));
    if (!path_.empty()) {
      REEL_RETURN_IF_ERROR(WriteFile(path_, bytes));
    } else {
      REEL_RETURN_IF_ERROR(sink_(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    }
    EncodeSummary summary;
    summary.bytes = static_cast<int64_t>(bytes.size());
    summary.frames = 1;
    summary.mime_type = std::string(format_.mime_type);
    summary.coded_width = spec().width;
    summary.coded_height = spec().height;
    return summary;
  }

 private:
  const MediaFormat& format_;
  const std::string path_;
  const ByteSink sink_;
  std::vector<uint8_t> frame_;
};

}  // namespace

absl::StatusOr<std::string> EncodeImage(const uint8_t* rgb, int width, int height,
                                        absl::string_view format, int crf,
                                        const std::map<std::string, std::string>& metadata) {
  // OpenCV wants BGR; the Mat header only borrows `rgb`.
  const cv::Mat rgb_mat(height, width, CV_8UC3, const_cast<uint8_t*>(rgb));
  cv::Mat bgr;
  cv::cvtColor(rgb_mat, bgr, cv::COLOR_RGB2BGR);
  std::string ext;
  std::vector<int> params;
  if (format == "png") {
    ext = ".png";
    params = {cv::IMWRITE_PNG_COMPRESSION, kPngCompression};
  } else if (format == "jpeg") {
    ext = ".jpg";
    params = {cv::IMWRITE_JPEG_QUALITY, crf >= 0 ? 100 - crf : kDefaultJpegQuality};
  } else if (format == "webp-image") {
    ext = ".webp";
    // Quality 1-100 is lossy; OpenCV's default (no parameter) would be lossless and large.
    params = {cv::IMWRITE_WEBP_QUALITY, crf >= 0 ? std::max(1, 100 - crf) : kDefaultWebpQuality};
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", format, "' is not an image format"));
  }
  std::vector<uint8_t> encoded;
  try {
    if (!cv::imencode(ext, bgr, encoded, params)) {
      return absl::InternalError(
          absl::StrCat("OpenCV could not encode a ", width, "x", height, " ", format, " image"));
    }
  } catch (const cv::Exception& e) {  // OpenCV reports missing codecs by throwing
    return absl::UnimplementedError(absl::StrCat("OpenCV cannot write ", format, ": ", e.what()));
  }
  std::string bytes(encoded.begin(), encoded.end());
  if (format == "png") REEL_RETURN_IF_ERROR(AddPngMetadata(bytes, metadata));
  if (format == "jpeg") REEL_RETURN_IF_ERROR(AddJpegMetadata(bytes, metadata));
  return bytes;
}

absl::StatusOr<std::unique_ptr<MediaEncoder>> NewImageEncoder(const VideoSpec& spec,
                                                              const std::string& path,
                                                              ByteSink sink) {
  const MediaFormat* format = FindMediaFormat(spec.format);
  if (format == nullptr || !format->single_image) {
    return absl::InvalidArgumentError(absl::StrCat("'", spec.format, "' is not an image format"));
  }
  return std::make_unique<ImageEncoder>(spec, *format, path, std::move(sink));
}

}  // namespace reel
