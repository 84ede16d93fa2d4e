// Video and animation output, checked by decoding with the real ffprobe/ffmpeg CLI: codec, size,
// frame count, duration, container tags, and the mean absolute pixel error against the input.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/encoder/file_sink.h"
#include "services/encoder/media_encoder.h"
#include "tests/encoder/media_test_util.h"

namespace reel {
namespace {

using ::reel::testing::DecodeRgb;
using ::reel::testing::MeanAbsError;
using ::reel::testing::Probe;
using ::reel::testing::ReadFile;
using ::reel::testing::RemoveTestFile;
using ::reel::testing::SyntheticBlock;
using ::reel::testing::SyntheticFrames;
using ::reel::testing::TempPath;

constexpr int kFrames = 24;
constexpr double kFps = 12.0;  // 24 frames = 2.000 s
constexpr int kWidth = 96;
constexpr int kHeight = 64;

struct VideoCase {
  std::string format;
  int width;
  int height;
  std::string codec;  // as ffprobe names it
  int coded_width;    // what a decoder sees (H.264 pads odd sides)
  int coded_height;
  double max_mae;  // mean |decoded - input| in 0..255 units, at the default quality
};

void PrintTo(const VideoCase& c, std::ostream* os) {
  *os << c.format << " " << c.width << "x" << c.height;
}

std::string Name(const ::testing::TestParamInfo<VideoCase>& info) {
  return info.param.format + "_" + std::to_string(info.param.width) + "x" +
         std::to_string(info.param.height);
}

VideoSpec SpecFor(const VideoCase& c) {
  VideoSpec spec;
  spec.width = c.width;
  spec.height = c.height;
  spec.fps = kFps;
  spec.frames = kFrames;
  spec.format = c.format;
  spec.metadata = {{"prompt", "a red circle moving right"}, {"seed", "42"}, {"model", "test"}};
  return spec;
}

// Writes kFrames synthetic frames in uneven blocks (5, 5, 5, 5, 4), as a generator would.
absl::StatusOr<SinkResult> WriteThroughFileSink(const VideoSpec& spec, const std::string& path) {
  std::unique_ptr<FrameSink> sink = NewFileEncoderSink(path);
  if (absl::Status s = sink->Open(spec); !s.ok()) return s;
  for (int first = 0; first < kFrames; first += 5) {
    const int count = std::min(5, kFrames - first);
    if (absl::Status s = sink->Write(SyntheticBlock(spec.width, spec.height, first, count));
        !s.ok()) {
      return s;
    }
  }
  return sink->Close();
}

class VideoRoundTrip : public ::testing::TestWithParam<VideoCase> {};

TEST_P(VideoRoundTrip, DecodesToTheInputFrames) {
  const VideoCase& c = GetParam();
  const std::string path = TempPath("roundtrip." + c.format);
  const absl::StatusOr<SinkResult> result = WriteThroughFileSink(SpecFor(c), path);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->path, path);
  EXPECT_EQ(result->frames, kFrames);
  EXPECT_EQ(result->bytes, static_cast<int64_t>(std::filesystem::file_size(path)));

  const absl::StatusOr<testing::ProbeResult> probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, c.codec);
  EXPECT_EQ(probe->width, c.coded_width);
  EXPECT_EQ(probe->height, c.coded_height);
  EXPECT_EQ(probe->frames, kFrames);
  EXPECT_NEAR(probe->duration_s, kFrames / kFps, 0.5 / kFps);

  const absl::StatusOr<std::vector<uint8_t>> decoded = DecodeRgb(path);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), static_cast<size_t>(kFrames) * c.coded_width * c.coded_height * 3);
  const double mae =
      MeanAbsError(*decoded, c.coded_width, c.coded_height,
                   SyntheticFrames(c.width, c.height, 0, kFrames), c.width, c.height, kFrames);
  EXPECT_LT(mae, c.max_mae) << c.format << " mean abs error " << mae;
  std::printf("%s %dx%d: %lld bytes, mean abs error %.3f/255\n", c.format.c_str(), c.width,
              c.height, static_cast<long long>(result->bytes), mae);
  // A decoder that output grey or the wrong frame order would be far above every bound.
  RemoveTestFile(path);
}

// Bounds in 0..255 units at the default quality (H.264 crf 23, VP9 crf 32, GIF 256 colours per
// frame). Measured: mp4 2.9, webm 3.0, gif 4.2 at 96x64; 4.5, 4.5, 4.0 at 47x33, where 4:2:0
// chroma subsampling of the red disc's edge weighs more. A wrong colour matrix, frame order or
// palette lands far above (an H.264 file decoded with the BT.601 matrix instead of BT.709: ~9.6).
INSTANTIATE_TEST_SUITE_P(Formats, VideoRoundTrip,
                         ::testing::Values(VideoCase{"mp4", 96, 64, "h264", 96, 64, 4.0},
                                           VideoCase{"webm", 96, 64, "vp9", 96, 64, 4.0},
                                           VideoCase{"gif", 96, 64, "gif", 96, 64, 5.0},
                                           VideoCase{"mp4", 47, 33, "h264", 48, 34, 6.0},
                                           VideoCase{"webm", 47, 33, "vp9", 47, 33, 6.0},
                                           VideoCase{"gif", 47, 33, "gif", 47, 33, 5.0}),
                         Name);

TEST(VideoEncoder, Mp4FileIsFastStartAndCarriesMetadata) {
  const VideoCase c{"mp4", kWidth, kHeight, "h264", kWidth, kHeight, 0};
  const std::string path = TempPath("faststart.mp4");
  ASSERT_TRUE(WriteThroughFileSink(SpecFor(c), path).ok());
  const std::string bytes = ReadFile(path);
  const size_t moov = bytes.find("moov");
  const size_t mdat = bytes.find("mdat");
  ASSERT_NE(moov, std::string::npos);
  ASSERT_NE(mdat, std::string::npos);
  EXPECT_LT(moov, mdat) << "+faststart puts the index before the media data";
  EXPECT_EQ(bytes.find("moof"), std::string::npos) << "a file is not fragmented";
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->tags.count("prompt") ? probe->tags.at("prompt") : "",
            "a red circle moving right");
  EXPECT_EQ(probe->tags.count("seed") ? probe->tags.at("seed") : "", "42");
  EXPECT_EQ(probe->pix_fmt, "yuv420p");
  RemoveTestFile(path);
}

// Leaves `pattern` in the next 256 KiB of this thread's stack, where the encoder's own frames
// will lie, as a render's kernels leave their partial sums there.
[[gnu::noinline]] void SoilTheStack(uint8_t pattern) {
  volatile uint8_t junk[256 * 1024];
  for (size_t i = 0; i < sizeof(junk); ++i) junk[i] = static_cast<uint8_t>(pattern + i * 131);
}

// The synthetic clip as an in-memory MP4, encoded in blocks of `block` frames after the stack was
// soiled with `pattern`.
std::string EncodeInMemory(const VideoSpec& spec, int block, uint8_t pattern) {
  const std::vector<uint8_t> frames = SyntheticFrames(spec.width, spec.height, 0, kFrames);
  std::string bytes;
  SoilTheStack(pattern);
  auto encoder = NewMediaEncoderToStream(
      spec,
      [&](const uint8_t* data, size_t size) {
        bytes.append(reinterpret_cast<const char*>(data), size);
        return absl::OkStatus();
      },
      EncoderOptions{});
  EXPECT_TRUE(encoder.ok()) << encoder.status();
  if (!encoder.ok()) return "";
  const int64_t frame_bytes = int64_t{spec.width} * spec.height * 3;
  for (int first = 0; first < kFrames; first += block) {
    const int count = std::min(block, kFrames - first);
    SoilTheStack(static_cast<uint8_t>(pattern + first));
    const FrameView view{first,
                         count,
                         spec.width,
                         spec.height,
                         frames.data() + first * frame_bytes,
                         count * frame_bytes};
    EXPECT_TRUE((*encoder)->Write(view).ok());
  }
  EXPECT_TRUE((*encoder)->Finish().ok());
  return bytes;
}

// The file is a function of the frames alone: not of what ran before the encoder on the same
// thread, nor of how the frames are split into blocks. A sharded render (`reel render --ranks N`)
// relies on this to write the same file as one process.
TEST(VideoEncoder, Mp4BytesDependOnlyOnTheFrames) {
  for (const auto& [width, height] :
       {std::pair{64, 64}, std::pair{kWidth, kHeight}, std::pair{480, 272}}) {
    const VideoCase c{"mp4", width, height, "h264", width, height, 0};
    const VideoSpec spec = SpecFor(c);
    const std::string first = EncodeInMemory(spec, kFrames, 0);
    ASSERT_FALSE(first.empty());
    for (const auto& [block, pattern] :
         {std::pair{kFrames, 0xa5}, std::pair{4, 0xff}, std::pair{5, 0x3c}, std::pair{1, 0x00}}) {
      EXPECT_TRUE(EncodeInMemory(spec, block, pattern) == first)
          << width << "x" << height << ", blocks of " << block << ", stack soiled with 0x"
          << std::hex << pattern;
    }
  }
}

TEST(VideoEncoder, WebmCarriesMetadata) {
  const VideoCase c{"webm", kWidth, kHeight, "vp9", kWidth, kHeight, 0};
  const std::string path = TempPath("meta.webm");
  ASSERT_TRUE(WriteThroughFileSink(SpecFor(c), path).ok());
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->tags.count("prompt") ? probe->tags.at("prompt") : "",
            "a red circle moving right");
  RemoveTestFile(path);
}

TEST(VideoEncoder, CrfTradesSizeForQuality) {
  // Lower CRF must give a larger file and a smaller error: proves the setting reaches x264.
  VideoCase c{"mp4", kWidth, kHeight, "h264", kWidth, kHeight, 0};
  VideoSpec high = SpecFor(c);
  high.crf = 10;
  VideoSpec low = SpecFor(c);
  low.crf = 45;
  const std::string high_path = TempPath("crf10.mp4");
  const std::string low_path = TempPath("crf45.mp4");
  const auto high_result = WriteThroughFileSink(high, high_path);
  const auto low_result = WriteThroughFileSink(low, low_path);
  ASSERT_TRUE(high_result.ok() && low_result.ok());
  EXPECT_GT(high_result->bytes, low_result->bytes);
  const auto expected = SyntheticFrames(kWidth, kHeight, 0, kFrames);
  const double high_mae =
      MeanAbsError(*DecodeRgb(high_path), kWidth, kHeight, expected, kWidth, kHeight, kFrames);
  const double low_mae =
      MeanAbsError(*DecodeRgb(low_path), kWidth, kHeight, expected, kWidth, kHeight, kFrames);
  EXPECT_LT(high_mae, low_mae);
  EXPECT_LT(high_mae, 2.0);
  RemoveTestFile(high_path);
  RemoveTestFile(low_path);
}

TEST(VideoEncoder, NonIntegerFrameRate) {
  VideoCase c{"mp4", 32, 32, "h264", 32, 32, 0};
  VideoSpec spec = SpecFor(c);
  spec.fps = 30000.0 / 1001.0;
  const std::string path = TempPath("ntsc.mp4");
  ASSERT_TRUE(WriteThroughFileSink(spec, path).ok());
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->frames, kFrames);
  EXPECT_NEAR(probe->duration_s, kFrames / spec.fps, 0.5 / spec.fps);
  RemoveTestFile(path);
}

// Streaming: the encoder writes through a callback that cannot seek, as the gRPC service does.
struct StreamCase {
  std::string format;
  std::string codec;
};

void PrintTo(const StreamCase& c, std::ostream* os) { *os << c.format; }

class StreamedVideo : public ::testing::TestWithParam<StreamCase> {};

TEST_P(StreamedVideo, NonSeekableOutputDecodes) {
  const StreamCase& c = GetParam();
  VideoSpec spec = SpecFor({c.format, kWidth, kHeight, c.codec, kWidth, kHeight, 0});
  std::string bytes;
  int calls = 0;
  auto encoder = NewMediaEncoderToStream(spec,
                                         [&](const uint8_t* data, size_t size) {
                                           bytes.append(reinterpret_cast<const char*>(data), size);
                                           ++calls;
                                           return absl::OkStatus();
                                         },
                                         {});
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  for (int first = 0; first < kFrames; first += 8) {
    ASSERT_TRUE((*encoder)->Write(SyntheticBlock(kWidth, kHeight, first, 8)).ok());
  }
  const auto summary = (*encoder)->Finish();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(summary->frames, kFrames);
  EXPECT_GT(calls, 1) << "bytes should flow in pieces, not as one blob at the end";
  if (c.format == "mp4") {
    EXPECT_NE(bytes.find("moof"), std::string::npos) << "non-seekable MP4 must be fragmented";
  }
  const std::string path = TempPath("streamed." + c.format);
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, c.codec);
  EXPECT_EQ(probe->frames, kFrames);
  const double mae =
      MeanAbsError(*DecodeRgb(path), kWidth, kHeight, SyntheticFrames(kWidth, kHeight, 0, kFrames),
                   kWidth, kHeight, kFrames);
  EXPECT_LT(mae, c.format == "gif" ? 5.0 : 4.0);
  RemoveTestFile(path);
}

INSTANTIATE_TEST_SUITE_P(Formats, StreamedVideo,
                         ::testing::Values(StreamCase{"mp4", "h264"}, StreamCase{"webm", "vp9"},
                                           StreamCase{"gif", "gif"}),
                         [](const ::testing::TestParamInfo<StreamCase>& info) {
                           return info.param.format;
                         });

TEST(VideoEncoder, FailingByteSinkStopsTheEncoder) {
  // The sink's own status comes back, whichever call first had bytes to write (the fragmented MP4
  // header is flushed at creation).
  VideoSpec spec = SpecFor({"mp4", kWidth, kHeight, "h264", kWidth, kHeight, 0});
  auto encoder = NewMediaEncoderToStream(
      spec, [](const uint8_t*, size_t) { return absl::CancelledError("client went away"); }, {});
  absl::Status status = encoder.status();
  for (int first = 0; first < kFrames && status.ok(); first += 8) {
    status = (*encoder)->Write(SyntheticBlock(kWidth, kHeight, first, 8));
  }
  if (status.ok()) status = (*encoder)->Finish().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_THAT(status.message(), ::testing::HasSubstr("client went away"));
}

}  // namespace
}  // namespace reel
