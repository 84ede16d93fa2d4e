// FetchResult with follow (issue 17): the result is streamed while the job is RUNNING. The bytes
// received so far decode — with the real ffprobe — to whole blocks (frames = blocks × 4 while the
// job runs); the followed bytes equal the finished result byte for byte; a re-queued job restarts
// the stream with a `restart` chunk and never splices two attempts; a cancelled job ends the stream
// with FAILED_PRECONDITION; time to first frame is recorded and exported.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "services/common/result_files.h"
#include "services/encoder/temp_file.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kBlockFrames = 4;
constexpr int kFrames = 16;  // 4 blocks

FakeRendererOptions SlowRenderer() {
  FakeRendererOptions o;
  o.frames = kFrames;
  o.block_frames = kBlockFrames;
  o.steps = 3;
  // ~0.3 s per block: slow enough that a follower sees the blocks one by one, fast enough for CI.
  o.step_delay = absl::Milliseconds(100);
  return o;
}

std::string WriteTemp(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = (std::filesystem::path(dir.path()) / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

int64_t DecodedFrames(const TempDir& dir, const std::string& bytes, const std::string& format) {
  const auto probe = Probe(WriteTemp(dir, "prefix." + format, bytes));
  const auto it = probe.find("nb_read_frames");
  return it == probe.end() ? -1 : std::stoll(it->second);
}

struct Followed {
  std::string bytes;            // of the last attempt
  std::vector<int64_t> frames;  // decoded frames of the bytes held after each chunk while running
  int restarts = 0;
  int last_attempt = 0;
  grpc::Status status;
};

class ProgressiveFollowTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    StackOptions options;
    options.metrics_port = 0;
    auto gateway = StartGateway(dir_.path(), options);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
    stub_ = Client(gateway_->port());
    renderer_ = std::make_unique<FakeRenderer>(SlowRenderer());
  }
  void AddWorker(const std::string& id) {
    workers_.push_back(StartWorker(gateway_->port(), *renderer_, gateway_->result_dir(), "", id));
    ASSERT_TRUE(workers_.back()->WaitUntilRegistered(absl::Seconds(10)));
  }
  void TearDown() override {
    for (auto& w : workers_) w->Stop();
    if (gateway_) gateway_->Shutdown();
  }
  v1::Job SubmitVideo() {
    v1::GenerateRequest request;
    request.set_prompt("a square moving right");
    request.set_frames(kFrames);
    request.set_output_format(GetParam());
    v1::Job job;
    EXPECT_TRUE(Submit(*stub_, request, &job).ok());
    return job;
  }
  // Follows job `id` to its end; `on_data` runs after each data chunk (before it is probed, so that
  // a slow ffprobe on a loaded machine cannot delay what the test does mid-job; the tests that act
  // mid-job do not probe at all).
  Followed Follow(const std::string& id, const std::function<void(const Followed&)>& on_data = {}) {
    Followed out;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::FetchResultRequest request;
    request.set_id(id);
    request.set_follow(true);
    auto reader = stub_->FetchResult(&context, request);
    v1::ResultChunk chunk;
    while (reader->Read(&chunk)) {
      out.last_attempt = chunk.attempt();
      if (chunk.restart()) {
        ++out.restarts;
        out.bytes.clear();
        continue;
      }
      EXPECT_EQ(chunk.offset(), static_cast<int64_t>(out.bytes.size())) << "a gap or an overlap";
      out.bytes += chunk.data();
      if (on_data) {
        on_data(out);
      } else if (chunk.total_bytes() == 0 && !chunk.data().empty()) {  // still running
        out.frames.push_back(DecodedFrames(dir_, out.bytes, GetParam()));
      }
    }
    out.status = reader->Finish();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<v1::GenerationService::Stub> stub_;
  std::unique_ptr<FakeRenderer> renderer_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
};

TEST_P(ProgressiveFollowTest, BytesReceivedWhileRunningDecodeToWholeBlocks) {
  AddWorker("w1");
  const v1::Job job = SubmitVideo();
  const Followed followed = Follow(job.id());  // from QUEUED on
  ASSERT_TRUE(followed.status.ok()) << followed.status.error_message();
  EXPECT_EQ(followed.restarts, 0);
  ASSERT_FALSE(followed.frames.empty()) << "nothing arrived while the job was running";
  int64_t before = 0;
  for (int64_t f : followed.frames) {
    EXPECT_GT(f, 0);
    EXPECT_EQ(f % kBlockFrames, 0) << f << " frames: a prefix must end at a block boundary";
    EXPECT_GE(f, before);
    before = f;
  }
  EXPECT_LT(followed.frames.front(), kFrames) << "the first bytes came only at the end";
  // The followed bytes are the finished result, byte for byte, and decode to every frame.
  const std::string finished = FetchResultBytes(*stub_, job.id());
  EXPECT_EQ(followed.bytes.size(), finished.size());
  EXPECT_TRUE(followed.bytes == finished);
  EXPECT_EQ(DecodedFrames(dir_, finished, GetParam()), kFrames);

  const v1::Job done = WaitForJob(*stub_, job.id(), Terminal, absl::Seconds(10));
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED);
  EXPECT_GT(done.progress().time_to_first_frame_seconds(), 0);
  EXPECT_LE(done.progress().time_to_first_frame_seconds(),
            absl::ToDoubleSeconds(absl::FromUnixSeconds(done.end_time().seconds()) -
                                  absl::FromUnixSeconds(done.create_time().seconds())) +
                1.0);
  EXPECT_THAT(HttpGet(gateway_->metrics_port(), "/metrics", absl::Seconds(10)),
              HasSubstr("reel_time_to_first_frame_seconds_count 1"));
  // Nothing partial is left behind.
  EXPECT_FALSE(std::filesystem::exists(
      std::filesystem::path(gateway_->result_dir()) /
      service::PartialResultFileName(job.id(), done.attempts(), GetParam())));
}

TEST_P(ProgressiveFollowTest, PartialFileNameIsTheEncodersProgressivePath) {
  const std::string dir = "/results";
  EXPECT_EQ(ProgressivePartialPath(dir + "/" + service::ResultFileName("j1", 2, GetParam())),
            dir + "/" + service::PartialResultFileName("j1", 2, GetParam()));
}

TEST_P(ProgressiveFollowTest, ARequeuedJobRestartsTheStreamWithoutSplicing) {
  AddWorker("w1");
  const v1::Job job = SubmitVideo();
  bool stopped = false;
  const Followed followed = Follow(job.id(), [&](const Followed& so_far) {
    if (!stopped && so_far.restarts == 0) {
      // The first worker gives the job back mid-render (as on SIGTERM); another one finishes it.
      stopped = true;
      workers_.front()->Stop();
      AddWorker("w2");
    }
  });
  ASSERT_TRUE(followed.status.ok()) << followed.status.error_message();
  EXPECT_EQ(followed.restarts, 1);
  EXPECT_EQ(followed.last_attempt, 2);
  const std::string finished = FetchResultBytes(*stub_, job.id());
  EXPECT_TRUE(followed.bytes == finished) << "the stream spliced two attempts";
  EXPECT_EQ(DecodedFrames(dir_, followed.bytes, GetParam()), kFrames);
}

TEST_P(ProgressiveFollowTest, ACancelledJobEndsTheStream) {
  AddWorker("w1");
  const v1::Job job = SubmitVideo();
  bool cancelled = false;
  const Followed followed = Follow(job.id(), [&](const Followed&) {
    if (cancelled) return;
    cancelled = true;
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_id(job.id());
    v1::Job ignored;
    EXPECT_TRUE(stub_->Cancel(&context, request, &ignored).ok());
  });
  EXPECT_EQ(followed.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(followed.status.error_message(), HasSubstr("CANCELLED"));
}

TEST_P(ProgressiveFollowTest, WithoutFollowARunningJobHasNoResultYet) {
  AddWorker("w1");
  const v1::Job job = SubmitVideo();
  grpc::ClientContext context;
  v1::FetchResultRequest request;
  request.set_id(job.id());
  auto reader = stub_->FetchResult(&context, request);
  v1::ResultChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

INSTANTIATE_TEST_SUITE_P(Formats, ProgressiveFollowTest, ::testing::Values("mp4", "webm"));

}  // namespace
}  // namespace reel::testing
