// The file sink's promise: a file appears at the destination only after a successful Close();
// Abort(), a failed Write()/Close() or dropping the sink leave nothing behind (no temp file
// either).
#include "services/encoder/file_sink.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/encoder/media_test_util.h"

namespace reel {
namespace {

using ::reel::testing::Probe;
using ::reel::testing::SyntheticBlock;
using ::testing::HasSubstr;

namespace fs = std::filesystem;

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("reel_file_sink_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every entry in the directory: the only way to see a leftover temporary file.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    return names;
  }

  static VideoSpec Spec(const std::string& format = "mp4") {
    VideoSpec spec;
    spec.width = 32;
    spec.height = 32;
    spec.fps = 8;
    spec.frames = 8;
    spec.format = format;
    return spec;
  }

  fs::path dir_;
};

TEST_F(FileSinkTest, CloseRenamesIntoPlaceAndLeavesNoTempFile) {
  const std::string path = dir_ / "out.mp4";
  auto sink = NewFileEncoderSink(path);
  ASSERT_TRUE(sink->Open(Spec()).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 4)).ok());
  EXPECT_FALSE(fs::exists(path)) << "nothing at the destination before Close()";
  EXPECT_EQ(Entries().size(), 1u) << "one temporary file while writing";
  ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 4, 4)).ok());
  const auto result = sink->Close();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Entries(), ::testing::ElementsAre("out.mp4"));
  EXPECT_EQ(result->mime_type, "video/mp4");
  EXPECT_EQ((fs::status(path).permissions() & fs::perms::others_read), fs::perms::others_read);
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->frames, 8);
}

TEST_F(FileSinkTest, AbortLeavesNothing) {
  for (const std::string format : {"mp4", "webm", "gif", "webp", "png"}) {
    const std::string path = dir_ / ("out." + format);
    VideoSpec spec = Spec(format);
    if (format == "png") spec.frames = 1;
    auto sink = NewFileEncoderSink(path);
    ASSERT_TRUE(sink->Open(spec).ok()) << format;
    ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 1)).ok()) << format;
    sink->Abort();
    EXPECT_THAT(Entries(), ::testing::IsEmpty()) << format;
  }
}

TEST_F(FileSinkTest, DroppingAnOpenSinkLeavesNothing) {
  {
    auto sink = NewFileEncoderSink(dir_ / "out.webm");
    ASSERT_TRUE(sink->Open(Spec("webm")).ok());
    ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 3)).ok());
  }
  EXPECT_THAT(Entries(), ::testing::IsEmpty());
}

TEST_F(FileSinkTest, BadBlockFailsAndLeavesNothing) {
  auto sink = NewFileEncoderSink(dir_ / "out.mp4");
  ASSERT_TRUE(sink->Open(Spec()).ok());
  FrameBlock wrong = SyntheticBlock(32, 32, 0, 2);
  wrong.rgb.pop_back();
  const absl::Status status = sink->Write(wrong);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("6143 bytes"));
  EXPECT_THAT(Entries(), ::testing::IsEmpty());
  EXPECT_EQ(sink->Close().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FileSinkTest, OutOfOrderBlockIsRejected) {
  auto sink = NewFileEncoderSink(dir_ / "out.mp4");
  ASSERT_TRUE(sink->Open(Spec()).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 2)).ok());
  const absl::Status status = sink->Write(SyntheticBlock(32, 32, 3, 2));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("expected frame 2"));
  EXPECT_THAT(Entries(), ::testing::IsEmpty());
}

TEST_F(FileSinkTest, TooFewFramesFailsAtCloseAndLeavesNothing) {
  auto sink = NewFileEncoderSink(dir_ / "out.mp4");
  ASSERT_TRUE(sink->Open(Spec()).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 5)).ok());
  const auto result = sink->Close();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("announced 8 frames, but only 5"));
  EXPECT_THAT(Entries(), ::testing::IsEmpty());
}

TEST_F(FileSinkTest, TooManyFramesAreRejected) {
  auto sink = NewFileEncoderSink(dir_ / "out.gif");
  ASSERT_TRUE(sink->Open(Spec("gif")).ok());
  EXPECT_EQ(sink->Write(SyntheticBlock(32, 32, 0, 9)).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FileSinkTest, UnknownFrameCountIsFine) {
  VideoSpec spec = Spec("webm");
  spec.frames = 0;
  const std::string path = dir_ / "out.webm";
  auto sink = NewFileEncoderSink(path);
  ASSERT_TRUE(sink->Open(spec).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 6)).ok());
  const auto result = sink->Close();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->frames, 6);
}

TEST_F(FileSinkTest, MissingDirectoryFailsAtOpen) {
  auto sink = NewFileEncoderSink(dir_ / "no" / "such" / "dir" / "out.mp4");
  const absl::Status status = sink->Open(Spec());
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("no/such/dir"));
}

TEST_F(FileSinkTest, BadSpecFailsAtOpenAndLeavesNothing) {
  VideoSpec spec = Spec();
  spec.fps = 0;
  EXPECT_EQ(NewFileEncoderSink(dir_ / "out.mp4")->Open(spec).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Entries(), ::testing::IsEmpty());
}

TEST_F(FileSinkTest, OverwritesAnExistingFileOnlyOnSuccess) {
  const std::string path = dir_ / "out.mp4";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("old", f);
    std::fclose(f);
  }
  auto sink = NewFileEncoderSink(path);
  ASSERT_TRUE(sink->Open(Spec()).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(32, 32, 0, 8)).ok());
  sink->Abort();
  EXPECT_EQ(fs::file_size(path), 3u) << "an aborted render keeps the previous file";
  auto again = NewFileEncoderSink(path);
  ASSERT_TRUE(again->Open(Spec()).ok());
  ASSERT_TRUE(again->Write(SyntheticBlock(32, 32, 0, 8)).ok());
  ASSERT_TRUE(again->Close().ok());
  EXPECT_GT(fs::file_size(path), 3u);
}

}  // namespace
}  // namespace reel
