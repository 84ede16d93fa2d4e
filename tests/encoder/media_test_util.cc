#include "tests/encoder/media_test_util.h"

#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace reel::testing {

std::vector<uint8_t> SyntheticFrames(int width, int height, int64_t first, int64_t count) {
  constexpr double kPi = 3.14159265358979323846;
  std::vector<uint8_t> rgb(static_cast<size_t>(count) * width * height * 3);
  size_t i = 0;
  for (int64_t t = first; t < first + count; ++t) {
    const double cx = width * (0.15 + 0.03 * static_cast<double>(t % 24));
    const double cy = height * 0.5;
    const double radius = std::min(width, height) / 5.0 + 0.5;
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        double r = 127.5 + 100 * std::sin(2 * kPi * x / width + 0.3 * t);
        double g = 127.5 + 100 * std::cos(2 * kPi * y / height - 0.2 * t);
        double b = 128 + 60 * std::sin(2 * kPi * (x + y) / (width + height));
        const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
        const double cover = std::clamp(radius - d + 0.5, 0.0, 1.0);
        r = r * (1 - cover) + 230 * cover;
        g = g * (1 - cover) + 40 * cover;
        b = b * (1 - cover) + 40 * cover;
        rgb[i++] = static_cast<uint8_t>(std::lround(r));
        rgb[i++] = static_cast<uint8_t>(std::lround(g));
        rgb[i++] = static_cast<uint8_t>(std::lround(b));
      }
    }
  }
  return rgb;
}

FrameBlock SyntheticBlock(int width, int height, int64_t first, int count) {
  return FrameBlock{first, count, width, height, SyntheticFrames(width, height, first, count)};
}

std::string TempPath(const std::string& name) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "reel_media_", getpid(), "_", counter++, "_", name);
}

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  struct PipeCloser {
    void operator()(std::FILE* f) const { pclose(f); }
  };
  std::FILE* raw = popen(command.c_str(), "r");
  if (raw == nullptr) return absl::InternalError(absl::StrCat("popen failed: ", command));
  std::unique_ptr<std::FILE, PipeCloser> pipe(raw);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe.get())) > 0) out.append(buf, n);
  const int status = pclose(pipe.release());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("command failed (status ", status, "): ", command));
  }
  return out;
}

absl::StatusOr<ProbeResult> Probe(const std::string& path) {
  auto out = RunCommand(absl::StrCat(
      "/usr/bin/ffprobe -v error -count_frames -select_streams v:0 -show_streams -show_format "
      "-of json '",
      path, "'"));
  if (!out.ok()) return out.status();
  const nlohmann::json j = nlohmann::json::parse(*out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("streams") || j["streams"].empty()) {
    return absl::InternalError(absl::StrCat("ffprobe found no video stream in ", path, ": ", *out));
  }
  const nlohmann::json& s = j["streams"][0];
  const nlohmann::json& f = j["format"];
  ProbeResult p;
  p.format_name = f.value("format_name", "");
  p.codec_name = s.value("codec_name", "");
  p.pix_fmt = s.value("pix_fmt", "");
  p.width = s.value("width", 0);
  p.height = s.value("height", 0);
  p.frames = std::stoll(s.value("nb_read_frames", "0"));
  const std::string duration = s.value("duration", f.value("duration", "0"));
  p.duration_s = std::stod(duration);
  if (f.contains("tags")) {
    for (const auto& [key, value] : f["tags"].items()) {
      p.tags[absl::AsciiStrToLower(key)] = value.get<std::string>();
    }
  }
  return p;
}

absl::StatusOr<std::vector<uint8_t>> DecodeRgb(const std::string& path) {
  // Interpolated chroma: ffmpeg's default yuv420p -> rgb24 path replicates each chroma sample over
  // 2x2 pixels, which alone costs ~2/255 on colourful content; a player interpolates.
  auto out = RunCommand(absl::StrCat(
      "/usr/bin/ffmpeg -v error -i '", path,
      "' -vf scale=flags=bicubic+accurate_rnd+full_chroma_int -f rawvideo -pix_fmt rgb24 -"));
  if (!out.ok()) return out.status();
  return std::vector<uint8_t>(out->begin(), out->end());
}

double MeanAbsError(const std::vector<uint8_t>& decoded, int decoded_width, int decoded_height,
                    const std::vector<uint8_t>& expected, int width, int height, int64_t frames) {
  const size_t decoded_frame = static_cast<size_t>(decoded_width) * decoded_height * 3;
  const size_t expected_frame = static_cast<size_t>(width) * height * 3;
  if (decoded.size() < decoded_frame * frames || expected.size() < expected_frame * frames) {
    ADD_FAILURE() << "decoded " << decoded.size() << " bytes, expected at least "
                  << decoded_frame * frames;
    return 1e9;
  }
  double sum = 0;
  for (int64_t t = 0; t < frames; ++t) {
    for (int y = 0; y < height; ++y) {
      const uint8_t* a =
          decoded.data() + t * decoded_frame + static_cast<size_t>(y) * decoded_width * 3;
      const uint8_t* b = expected.data() + t * expected_frame + static_cast<size_t>(y) * width * 3;
      for (int x = 0; x < width * 3; ++x) sum += std::abs(int{a[x]} - int{b[x]});
    }
  }
  return sum / (static_cast<double>(expected_frame) * frames);
}

void RemoveTestFile(const std::string& path) {
  if (std::getenv("REEL_KEEP_TEST_MEDIA") == nullptr) std::remove(path.c_str());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace reel::testing
