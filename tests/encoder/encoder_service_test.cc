// EncoderService over real gRPC on loopback: frames in, container bytes out, decoded by ffprobe;
// cancellation mid-stream; every bad request gets its status code.
#include "services/encoder/encoder_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reel/v1/encoder.grpc.pb.h"
#include "services/encoder/encoder_proto.h"
#include "services/encoder/remote_sink.h"
#include "services/encoder/temp_file.h"
#include "tests/encoder/media_test_util.h"

namespace reel {
namespace {

using ::reel::testing::DecodeRgb;
using ::reel::testing::MeanAbsError;
using ::reel::testing::Probe;
using ::reel::testing::RemoveTestFile;
using ::reel::testing::SyntheticBlock;
using ::reel::testing::SyntheticFrames;
using ::reel::testing::TempPath;
using ::testing::HasSubstr;
using Stream = grpc::ClientReaderWriter<v1::EncodeRequest, v1::EncodeResponse>;

constexpr int kWidth = 96;
constexpr int kHeight = 64;
constexpr int kFrames = 16;
constexpr int kChunkBytes = 4096;

VideoSpec Spec(const std::string& format = "mp4") {
  VideoSpec spec;
  spec.width = kWidth;
  spec.height = kHeight;
  spec.fps = 8;
  spec.frames = format == "png" ? 1 : kFrames;
  spec.format = format;
  spec.metadata = {{"prompt", "remote"}};
  return spec;
}

v1::EncodeRequest SpecRequest(const VideoSpec& spec) {
  v1::EncodeRequest request;
  *request.mutable_spec() = SpecToProto(spec, {});
  return request;
}

v1::EncodeRequest FramesRequest(int64_t first, int count, int width = kWidth,
                                int height = kHeight) {
  v1::EncodeRequest request;
  const std::vector<uint8_t> rgb = SyntheticFrames(width, height, first, count);
  request.mutable_frames()->set_first_frame(first);
  request.mutable_frames()->set_count(count);
  request.mutable_frames()->set_rgb(rgb.data(), rgb.size());
  return request;
}

// Everything the server sent on one call.
struct Received {
  std::string bytes;
  std::vector<int64_t> chunk_sizes;
  bool offsets_consecutive = true;
  std::optional<v1::EncodeSummary> summary;
};

// Reads responses on a thread (the server blocks on unread chunks, as a real client must expect).
class ResponseReader {
 public:
  explicit ResponseReader(Stream* stream)
      : thread_([this, stream] {
          v1::EncodeResponse response;
          while (stream->Read(&response)) {
            if (response.has_chunk()) {
              if (response.chunk().offset() != static_cast<int64_t>(got_.bytes.size())) {
                got_.offsets_consecutive = false;
              }
              got_.bytes += response.chunk().data();
              got_.chunk_sizes.push_back(static_cast<int64_t>(response.chunk().data().size()));
              first_chunk_seen_ = true;
            } else {
              got_.summary = response.summary();
            }
          }
        }) {}
  Received Join() {
    thread_.join();
    return got_;
  }
  bool first_chunk_seen() const { return first_chunk_seen_.load(); }

 private:
  Received got_;
  std::atomic<bool> first_chunk_seen_{false};
  std::thread thread_;
};

class EncoderServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(4); }

  void StartServer(int max_streams) {
    server_.reset();
    EncoderServerOptions options;
    options.listen = "127.0.0.1:0";
    options.service.max_streams = max_streams;
    options.service.chunk_bytes = kChunkBytes;
    auto server = StartEncoderServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::EncoderService::NewStub(channel_);
  }

  // Sends `requests`, half-closes, and returns the final status with what came back.
  grpc::Status Call(const std::vector<v1::EncodeRequest>& requests, Received* received = nullptr) {
    grpc::ClientContext context;
    std::unique_ptr<Stream> stream = stub_->Encode(&context);
    ResponseReader reader(stream.get());
    for (const v1::EncodeRequest& r : requests) {
      if (!stream->Write(r)) break;  // the server already ended the call; Finish says why
    }
    stream->WritesDone();
    Received got = reader.Join();
    if (received != nullptr) *received = std::move(got);
    return stream->Finish();
  }

  // The server notices a cancelled call asynchronously; wait (bounded) until it let go.
  bool WaitUntilIdle() {
    for (int i = 0; i < 500 && server_->service->active_streams() != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return server_->service->active_streams() == 0;
  }

  std::unique_ptr<EncoderServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EncoderService::Stub> stub_;
};

TEST_F(EncoderServiceTest, StreamsAFragmentedMp4ThatDecodes) {
  std::vector<v1::EncodeRequest> requests = {SpecRequest(Spec())};
  for (int first = 0; first < kFrames; first += 4) requests.push_back(FramesRequest(first, 4));
  Received got;
  const grpc::Status status = Call(requests, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(got.summary.has_value());
  EXPECT_TRUE(got.offsets_consecutive);
  EXPECT_GT(got.chunk_sizes.size(), 1u);
  for (int64_t size : got.chunk_sizes) EXPECT_LE(size, kChunkBytes);
  EXPECT_EQ(got.summary->bytes(), static_cast<int64_t>(got.bytes.size()));
  EXPECT_EQ(got.summary->frames(), kFrames);
  EXPECT_EQ(got.summary->mime_type(), "video/mp4");

  const std::string path = TempPath("service.mp4");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(got.bytes.data(), 1, got.bytes.size(), f);
    std::fclose(f);
  }
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, "h264");
  EXPECT_EQ(probe->frames, kFrames);
  EXPECT_EQ(probe->tags.count("prompt") ? probe->tags.at("prompt") : "", "remote");
  const double mae =
      MeanAbsError(*DecodeRgb(path), kWidth, kHeight, SyntheticFrames(kWidth, kHeight, 0, kFrames),
                   kWidth, kHeight, kFrames);
  EXPECT_LT(mae, 4.0);
  RemoveTestFile(path);
  EXPECT_TRUE(WaitUntilIdle());
}

TEST_F(EncoderServiceTest, RemoteSinkWritesEveryFormat) {
  for (const std::string format : {"mp4", "webm", "gif", "png"}) {
    const std::string path = TempPath("remote." + format);
    RemoteSinkOptions options;
    options.max_message_bytes =
        int64_t{kWidth} * kHeight * 3 * 3;  // 3 frames per message: blocks split
    auto sink = NewRemoteEncoderSink(channel_, path, options);
    const VideoSpec spec = Spec(format);
    ASSERT_TRUE(sink->Open(spec).ok()) << format;
    for (int first = 0; first < spec.frames; first += 8) {
      const int count = std::min<int>(8, spec.frames - first);
      const absl::Status s = sink->Write(SyntheticBlock(kWidth, kHeight, first, count));
      ASSERT_TRUE(s.ok()) << format << ": " << s;
    }
    const auto result = sink->Close();
    ASSERT_TRUE(result.ok()) << format << ": " << result.status();
    EXPECT_EQ(result->frames, spec.frames);
    EXPECT_EQ(result->bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
    const auto probe = Probe(path);
    ASSERT_TRUE(probe.ok()) << probe.status();
    EXPECT_EQ(probe->frames, spec.frames) << format;
    EXPECT_EQ(probe->width, kWidth) << format;
    RemoveTestFile(path);
  }
}

TEST_F(EncoderServiceTest, ClientCancelMidStreamLeavesNothing) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Encode(&context);
  ResponseReader reader(stream.get());
  ASSERT_TRUE(stream->Write(SpecRequest(Spec())));
  ASSERT_TRUE(stream->Write(FramesRequest(0, 4)));
  // Wait for the first bytes (the fragmented MP4 header), so the encode is really under way.
  for (int i = 0; i < 500 && !reader.first_chunk_seen(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(reader.first_chunk_seen());
  EXPECT_EQ(server_->service->active_streams(), 1);
  context.TryCancel();
  const Received got = reader.Join();
  EXPECT_FALSE(got.summary.has_value());
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitUntilIdle()) << "the server must drop a cancelled call";
}

TEST_F(EncoderServiceTest, RemoteSinkAbortLeavesNoFile) {
  for (const std::string format : {"mp4", "webm", "gif"}) {
    const std::string path = TempPath("aborted." + format);
    {
      auto sink = NewRemoteEncoderSink(channel_, path);
      ASSERT_TRUE(sink->Open(Spec(format)).ok());
      ASSERT_TRUE(sink->Write(SyntheticBlock(kWidth, kHeight, 0, 4)).ok());
      sink->Abort();
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      EXPECT_THAT(entry.path().string(), ::testing::Not(HasSubstr("aborted." + format)));
    }
    EXPECT_TRUE(WaitUntilIdle()) << format;
  }
}

TEST_F(EncoderServiceTest, RemoteSinkReportsServerErrorsAndLeavesNoFile) {
  const std::string path = TempPath("short.mp4");
  auto sink = NewRemoteEncoderSink(channel_, path);
  ASSERT_TRUE(sink->Open(Spec()).ok());
  ASSERT_TRUE(sink->Write(SyntheticBlock(kWidth, kHeight, 0, 4)).ok());
  const auto result = sink->Close();  // 4 of 16 frames: the server refuses to finish
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("announced 16 frames"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

struct BadCall {
  const char* name;
  std::vector<v1::EncodeRequest> requests;
  grpc::StatusCode code;
  const char* message;
};

TEST_F(EncoderServiceTest, BadRequestsGetTheRightStatus) {
  auto spec_with = [](void (*mutate)(VideoSpec&)) {
    VideoSpec spec = Spec();
    mutate(spec);
    return SpecRequest(spec);
  };
  v1::EncodeRequest short_block = FramesRequest(0, 2);
  short_block.mutable_frames()->mutable_rgb()->pop_back();
  v1::EncodeRequest miscounted = FramesRequest(0, 2);
  miscounted.mutable_frames()->set_count(3);
  const BadCall cases[] = {
      {"zero width",
       {spec_with([](VideoSpec& s) { s.width = 0; })},
       grpc::StatusCode::INVALID_ARGUMENT,
       "frame size 0x64"},
      {"negative height",
       {spec_with([](VideoSpec& s) { s.height = -2; })},
       grpc::StatusCode::INVALID_ARGUMENT,
       "frame size 96x-2"},
      {"zero fps",
       {spec_with([](VideoSpec& s) { s.fps = 0; })},
       grpc::StatusCode::INVALID_ARGUMENT,
       "fps 0"},
      {"unknown format",
       {spec_with([](VideoSpec& s) { s.format = "avi"; })},
       grpc::StatusCode::INVALID_ARGUMENT,
       "unknown format 'avi'"},
      {"bad crf",
       {spec_with([](VideoSpec& s) { s.crf = 99; })},
       grpc::StatusCode::INVALID_ARGUMENT,
       "crf 99"},
      {"short block",
       {SpecRequest(Spec()), short_block},
       grpc::StatusCode::INVALID_ARGUMENT,
       "36863 bytes"},
      {"miscounted block",
       {SpecRequest(Spec()), miscounted},
       grpc::StatusCode::INVALID_ARGUMENT,
       "bytes"},
      {"wrong frame size",
       {SpecRequest(Spec()), FramesRequest(0, 1, 48, 32)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "bytes"},
      {"frames before spec",
       {FramesRequest(0, 1)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "first message must carry the spec"},
      {"empty stream", {}, grpc::StatusCode::INVALID_ARGUMENT, "empty stream"},
      {"second spec",
       {SpecRequest(Spec()), SpecRequest(Spec())},
       grpc::StatusCode::INVALID_ARGUMENT,
       "second spec"},
      {"gap",
       {SpecRequest(Spec()), FramesRequest(0, 2), FramesRequest(3, 2)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "expected frame 2"},
      {"too many frames",
       {SpecRequest(Spec()), FramesRequest(0, kFrames + 1)},
       grpc::StatusCode::INVALID_ARGUMENT,
       "announced with 16 frames"},
      {"too few frames",
       {SpecRequest(Spec()), FramesRequest(0, 2)},
       grpc::StatusCode::FAILED_PRECONDITION,
       "announced 16 frames"},
      {"no frames",
       {SpecRequest(Spec())},
       grpc::StatusCode::FAILED_PRECONDITION,
       "no frame was written"},
  };
  for (const BadCall& c : cases) {
    Received got;
    const grpc::Status status = Call(c.requests, &got);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.name;
    EXPECT_FALSE(got.summary.has_value()) << c.name;
  }
  EXPECT_TRUE(WaitUntilIdle());
}

TEST_F(EncoderServiceTest, MaxStreamsIsEnforced) {
  StartServer(1);
  grpc::ClientContext first_context;
  std::unique_ptr<Stream> first = stub_->Encode(&first_context);
  ResponseReader first_reader(first.get());
  ASSERT_TRUE(first->Write(SpecRequest(Spec())));
  for (int i = 0; i < 500 && server_->service->active_streams() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const grpc::Status second = Call({SpecRequest(Spec()), FramesRequest(0, kFrames)});
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << second.error_message();
  EXPECT_THAT(second.error_message(), HasSubstr("max_streams"));
  // The first call is unaffected and completes.
  ASSERT_TRUE(first->Write(FramesRequest(0, kFrames)));
  first->WritesDone();
  const Received got = first_reader.Join();
  EXPECT_TRUE(first->Finish().ok());
  EXPECT_TRUE(got.summary.has_value());
}

// A progressive remote sink: its partial file only ever holds whole blocks (the service marks the
// chunk that ends each message's bytes; chunks here are 4 KiB, smaller than a block), every state
// of it decodes to a whole number of blocks, and the finished file starts with each of them.
TEST_F(EncoderServiceTest, ProgressiveRemoteSinkGrowsByWholeBlocks) {
  const std::string path = TempPath("remote_progressive.mp4");
  const std::string partial = ProgressivePartialPath(path);
  RemoteSinkOptions options;
  options.encoder.progressive = true;
  auto sink = NewRemoteEncoderSink(channel_, path, options);
  VideoSpec spec;
  spec.width = 96;
  spec.height = 64;
  spec.fps = 8;
  spec.frames = 16;
  ASSERT_TRUE(sink->Open(spec).ok());
  std::vector<std::string> seen;
  for (int b = 0; b < 4; ++b) {
    ASSERT_TRUE(sink->Write(SyntheticBlock(96, 64, b * 4, 4)).ok());
    // The bytes come back asynchronously: wait (bounded) until this block's are in the file.
    int64_t frames = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (frames < (b + 1) * 4 && std::chrono::steady_clock::now() < deadline) {
      const std::string bytes = ::reel::testing::ReadFile(partial);
      if (!bytes.empty() && (seen.empty() || bytes != seen.back())) {
        seen.push_back(bytes);
        const std::string cut = TempPath("remote_prefix.mp4");
        std::ofstream(cut, std::ios::binary) << bytes;
        absl::StatusOr<testing::ProbeResult> probe = Probe(cut);
        ASSERT_TRUE(probe.ok()) << probe.status();
        frames = probe->frames;
        EXPECT_EQ(frames % 4, 0) << bytes.size() << " bytes decode to " << frames << " frames";
        RemoveTestFile(cut);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(frames, (b + 1) * 4) << "block " << b + 1;
  }
  ASSERT_TRUE(sink->Close().ok());
  const std::string final_bytes = ::reel::testing::ReadFile(path);
  for (const std::string& prefix : seen) {
    EXPECT_EQ(final_bytes.compare(0, prefix.size(), prefix), 0) << "a prefix was rewritten";
  }
  absl::StatusOr<testing::ProbeResult> probe = Probe(path);
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ(probe->frames, 16);
  EXPECT_FALSE(std::filesystem::exists(partial));
  RemoveTestFile(path);
}

}  // namespace
}  // namespace reel
