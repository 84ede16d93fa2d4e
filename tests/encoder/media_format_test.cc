// Spec validation: every bad field is refused with INVALID_ARGUMENT and a message naming it.
#include "services/encoder/media_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reel {
namespace {

using ::testing::HasSubstr;

VideoSpec Good() {
  VideoSpec spec;
  spec.width = 64;
  spec.height = 48;
  spec.fps = 16;
  spec.frames = 17;
  spec.format = "mp4";
  return spec;
}

struct BadSpec {
  const char* name;
  void (*mutate)(VideoSpec&);
  const char* message;
};

TEST(MediaFormat, GoodSpecsPass) {
  for (const char* format : {"mp4", "webm", "gif", "webp"}) {
    VideoSpec spec = Good();
    spec.format = format;
    EXPECT_TRUE(ValidateVideoSpec(spec).ok()) << format;
  }
  for (const char* format : {"png", "jpeg", "webp-image"}) {
    VideoSpec spec = Good();
    spec.format = format;
    spec.frames = 1;
    EXPECT_TRUE(ValidateVideoSpec(spec).ok()) << format;
  }
  VideoSpec odd = Good();
  odd.width = 33;
  odd.height = 1;
  odd.preset = "veryfast";
  odd.crf = 51;
  EXPECT_TRUE(ValidateVideoSpec(odd).ok());
}

TEST(MediaFormat, BadSpecsAreInvalidArgument) {
  const BadSpec cases[] = {
      {"zero width", [](VideoSpec& s) { s.width = 0; }, "frame size 0x48"},
      {"negative height", [](VideoSpec& s) { s.height = -4; }, "frame size 64x-4"},
      {"huge width", [](VideoSpec& s) { s.width = 100000; }, "out of range"},
      {"zero fps", [](VideoSpec& s) { s.fps = 0; }, "fps 0"},
      {"nan fps", [](VideoSpec& s) { s.fps = std::nan(""); }, "fps"},
      {"unknown format", [](VideoSpec& s) { s.format = "avi"; }, "unknown format 'avi'"},
      {"negative frames", [](VideoSpec& s) { s.frames = -1; }, "negative"},
      {"crf too high", [](VideoSpec& s) { s.crf = 52; }, "crf 52"},
      {"vp9 crf too high",
       [](VideoSpec& s) {
         s.format = "webm";
         s.crf = 64;
       },
       "crf 64"},
      {"bad preset", [](VideoSpec& s) { s.preset = "warp"; }, "preset 'warp'"},
      {"bad vp9 preset",
       [](VideoSpec& s) {
         s.format = "webm";
         s.preset = "medium";
       },
       "VP9"},
      {"fast gif",
       [](VideoSpec& s) {
         s.format = "gif";
         s.fps = 60;
       },
       "gif"},
      {"png video", [](VideoSpec& s) { s.format = "png"; }, "single image"},
  };
  for (const BadSpec& c : cases) {
    VideoSpec spec = Good();
    c.mutate(spec);
    const absl::Status status = ValidateVideoSpec(spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.name;
  }
}

TEST(MediaFormat, FormatForPath) {
  EXPECT_EQ(*MediaFormatForPath("a/b/out.MP4"), "mp4");
  EXPECT_EQ(*MediaFormatForPath("x.webm"), "webm");
  EXPECT_EQ(*MediaFormatForPath("x.jpeg"), "jpeg");
  EXPECT_EQ(*MediaFormatForPath("x.jpg"), "jpeg");
  EXPECT_EQ(*MediaFormatForPath("x.webp"), "webp");
  EXPECT_EQ(MediaFormatForPath("x.avi").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MediaFormatForPath("dir.d/noext").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MediaFormat, BlockChecks) {
  const VideoSpec spec = Good();
  std::vector<uint8_t> rgb(size_t{2} * 64 * 48 * 3);
  FrameView view{0, 2, 64, 48, rgb.data(), static_cast<int64_t>(rgb.size())};
  EXPECT_TRUE(ValidateFrameView(spec, view, 0).ok());
  FrameView wrong_size = view;
  wrong_size.width = 32;
  EXPECT_THAT(ValidateFrameView(spec, wrong_size, 0).message(), HasSubstr("32x48"));
  FrameView short_bytes = view;
  short_bytes.bytes -= 1;
  EXPECT_THAT(ValidateFrameView(spec, short_bytes, 0).message(), HasSubstr("18431 bytes"));
  FrameView zero = view;
  zero.count = 0;
  EXPECT_EQ(ValidateFrameView(spec, zero, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ValidateFrameView(spec, view, 4).message(), HasSubstr("expected frame 4"));
  FrameView past_end = view;
  past_end.first_frame = 16;
  EXPECT_THAT(ValidateFrameView(spec, past_end, 16).message(), HasSubstr("ends at frame 18"));
}

}  // namespace
}  // namespace reel
