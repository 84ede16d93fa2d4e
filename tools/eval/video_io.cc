#include "tools/eval/video_io.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "opencv2/imgcodecs.hpp"
#include "opencv2/imgproc.hpp"
#include "opencv2/videoio.hpp"

namespace reel::eval {

absl::StatusOr<std::vector<cv::Mat>> ReadRawRgb(const std::string& path, int width, int height) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  const size_t frame_bytes = static_cast<size_t>(width) * height * 3;
  if (width <= 0 || height <= 0 || bytes.empty() || bytes.size() % frame_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": size ", bytes.size(), " is not a multiple of ", width, "x", height, "x3"));
  }
  std::vector<cv::Mat> frames;
  for (size_t off = 0; off < bytes.size(); off += frame_bytes) {
    cv::Mat f(height, width, CV_8UC3);
    std::copy(bytes.begin() + off, bytes.begin() + off + frame_bytes, f.data);
    frames.push_back(std::move(f));
  }
  return frames;
}

absl::StatusOr<std::vector<cv::Mat>> ReadVideo(const std::string& path) {
  std::vector<cv::Mat> frames;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(path)) {
      if (e.path().extension() == ".png") files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      cv::Mat bgr = cv::imread(f, cv::IMREAD_COLOR);
      if (bgr.empty()) return absl::DataLossError(absl::StrCat("cannot decode ", f));
      cv::Mat rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      frames.push_back(std::move(rgb));
    }
  } else {
    cv::VideoCapture cap(path, cv::CAP_FFMPEG);
    if (!cap.isOpened()) return absl::NotFoundError(absl::StrCat("cannot open video ", path));
    cv::Mat bgr;
    while (cap.read(bgr)) {
      cv::Mat rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      frames.push_back(std::move(rgb));
    }
  }
  if (frames.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no frames"));
  return frames;
}

absl::Status WritePngFrames(const std::vector<cv::Mat>& frames, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].type() != CV_8UC3)
      return absl::InvalidArgumentError("frames must be CV_8UC3 RGB");
    cv::Mat bgr;
    cv::cvtColor(frames[i], bgr, cv::COLOR_RGB2BGR);
    const std::string path = (std::filesystem::path(dir) / absl::StrFormat("%05d.png", i)).string();
    if (!cv::imwrite(path, bgr)) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace reel::eval
