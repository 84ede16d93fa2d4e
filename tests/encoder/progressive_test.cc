// Progressive containers (EncoderOptions::progressive): every prefix of the file cut at a block
// boundary decodes — with the real ffprobe/ffmpeg — to exactly the frames of the blocks written so
// far; the finished file begins with those very bytes (nothing is rewritten), decodes to all
// frames, and is pixel-identical to a plain (non-progressive) encode with the same codec settings.
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "services/encoder/file_sink.h"
#include "services/encoder/temp_file.h"
#include "tests/encoder/media_test_util.h"

namespace reel {
namespace {

using ::reel::testing::DecodeRgb;
using ::reel::testing::Probe;
using ::reel::testing::ReadFile;
using ::reel::testing::RemoveTestFile;
using ::reel::testing::SyntheticBlock;
using ::reel::testing::TempPath;

constexpr int kWidth = 48;
constexpr int kHeight = 32;
constexpr int kBlockFrames = 4;
constexpr int kBlocks = 5;

VideoSpec Spec(const std::string& format) {
  VideoSpec spec;
  spec.width = kWidth;
  spec.height = kHeight;
  spec.fps = 8;
  spec.frames = kBlockFrames * kBlocks;
  spec.format = format;
  return spec;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

class ProgressiveTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ProgressiveTest, EveryBlockPrefixDecodesToTheFramesWrittenSoFar) {
  const std::string format = GetParam();
  const std::string path = TempPath("progressive." + format);
  const std::string partial = ProgressivePartialPath(path);
  EncoderOptions options;
  options.progressive = true;
  auto sink = NewFileEncoderSink(path, options);
  ASSERT_TRUE(sink->Open(Spec(format)).ok());
  std::vector<std::string> prefixes;
  for (int b = 0; b < kBlocks; ++b) {
    ASSERT_TRUE(sink->Write(SyntheticBlock(kWidth, kHeight, b * kBlockFrames, kBlockFrames)).ok());
    prefixes.push_back(ReadFile(partial));  // what a reader sees once Write() returned
    ASSERT_FALSE(prefixes.back().empty()) << "block " << b;
    const std::string cut = TempPath("prefix." + format);
    WriteFile(cut, prefixes.back());
    absl::StatusOr<testing::ProbeResult> probe = Probe(cut);
    ASSERT_TRUE(probe.ok()) << "prefix after block " << b + 1 << ": " << probe.status();
    EXPECT_EQ(probe->frames, (b + 1) * kBlockFrames) << "prefix after block " << b + 1;
    EXPECT_EQ(probe->width, kWidth);
    RemoveTestFile(cut);
  }
  absl::StatusOr<SinkResult> done = sink->Close();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(std::filesystem::exists(partial)) << "renamed into place";
  const std::string final_bytes = ReadFile(path);
  EXPECT_EQ(static_cast<int64_t>(final_bytes.size()), done->bytes);
  for (size_t b = 0; b < prefixes.size(); ++b) {
    ASSERT_LE(prefixes[b].size(), final_bytes.size());
    EXPECT_EQ(final_bytes.compare(0, prefixes[b].size(), prefixes[b]), 0)
        << "the bytes a reader took after block " << b + 1 << " were rewritten later";
  }
  absl::StatusOr<testing::ProbeResult> probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->frames, kBlocks * kBlockFrames);
  if (format == "mp4") {
    // The mvhd says 0 (empty moov); the duration comes from the fragments and the mfra index.
    EXPECT_NEAR(probe->duration_s, kBlocks * kBlockFrames / 8.0, 1e-3);
  }  // WebM: Duration and Cues are written only by seeking back, which a progressive file never
     // does

  // Seekable: ffmpeg seeking to 1 s (frame 8; MP4 through the mfra index, WebM by scanning its
  // clusters) decodes exactly the frames from there on.
  absl::StatusOr<std::string> tail = ::reel::testing::RunCommand(
      "/usr/bin/ffmpeg -v error -ss 1.0 -i '" + path + "' -f rawvideo -pix_fmt rgb24 -");
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->size(), static_cast<size_t>(kWidth) * kHeight * 3 * (kBlocks * kBlockFrames - 8));

  // The same frames through a plain (seekable, rewritten-at-the-end) file with the same codec
  // settings: the decoded pixels must not differ at all.
  const std::string plain = TempPath("plain." + format);
  EncoderOptions plain_options;
  plain_options.low_delay = true;
  auto reference = NewFileEncoderSink(plain, plain_options);
  ASSERT_TRUE(reference->Open(Spec(format)).ok());
  for (int b = 0; b < kBlocks; ++b) {
    ASSERT_TRUE(
        reference->Write(SyntheticBlock(kWidth, kHeight, b * kBlockFrames, kBlockFrames)).ok());
  }
  ASSERT_TRUE(reference->Close().ok());
  absl::StatusOr<std::vector<uint8_t>> a = DecodeRgb(path);
  absl::StatusOr<std::vector<uint8_t>> b = DecodeRgb(plain);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), static_cast<size_t>(kWidth) * kHeight * 3 * kBlocks * kBlockFrames);
  EXPECT_TRUE(*a == *b) << "progressive and plain encodes decode to different pixels";
  RemoveTestFile(path);
  RemoveTestFile(plain);
}

TEST_P(ProgressiveTest, AbortLeavesNoPartialFile) {
  const std::string path = TempPath("aborted." + GetParam());
  EncoderOptions options;
  options.progressive = true;
  auto sink = NewFileEncoderSink(path, options);
  ASSERT_TRUE(sink->Open(Spec(GetParam())).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(kWidth, kHeight, 0, kBlockFrames)).ok());
  EXPECT_TRUE(std::filesystem::exists(ProgressivePartialPath(path)));
  sink->Abort();
  EXPECT_FALSE(std::filesystem::exists(ProgressivePartialPath(path)));
  EXPECT_FALSE(std::filesystem::exists(path));
}

INSTANTIATE_TEST_SUITE_P(Formats, ProgressiveTest, ::testing::Values("mp4", "webm"));

}  // namespace
}  // namespace reel
