// The whole engine (tokenizer → text encoder → block-AR DiT → streaming VAE → FrameSink) on a
// random-weight model: defaults, validation messages, streaming order, cancellation, images,
// determinism.
#include "pipeline/generate/renderer.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/generate/random_model.h"

namespace reel {
namespace {

class RecordingSink : public FrameSink {
 public:
  absl::Status Open(const VideoSpec& spec) override {
    spec_ = spec;
    return absl::OkStatus();
  }
  absl::Status Write(const FrameBlock& block) override {
    events->push_back("write " + std::to_string(block.first_frame) + "+" +
                      std::to_string(block.count));
    EXPECT_EQ(block.rgb.size(), static_cast<size_t>(block.count) * block.width * block.height * 3);
    blocks.push_back(block);
    return absl::OkStatus();
  }
  absl::StatusOr<SinkResult> Close() override { return SinkResult{}; }
  void Abort() override {}

  std::vector<std::string>* events = nullptr;
  std::vector<FrameBlock> blocks;
  VideoSpec spec_;
};

class RendererTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One directory per process: ctest -j runs each test case as its own process, and one
    // process's TearDownTestSuite must not delete the model another is loading.
    dir_ = std::make_unique<std::string>(::testing::TempDir() + "/reel_random_model_" +
                                         std::to_string(getpid()));
    ASSERT_TRUE(WriteRandomModel(*dir_).ok());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    dir_.reset();
  }
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Renderer>> r = LoadRenderer(*dir_, {});
    ASSERT_TRUE(r.ok()) << r.status();
    renderer_ = *std::move(r);
  }
  static std::unique_ptr<std::string> dir_;
  std::unique_ptr<Renderer> renderer_;
};
std::unique_ptr<std::string> RendererTest::dir_;

TEST_F(RendererTest, FillsDefaultsFromTheModel) {
  absl::StatusOr<RenderRequest> r = renderer_->Resolve({.prompt = "a red circle"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->width, 32);
  EXPECT_EQ(r->height, 32);
  EXPECT_EQ(r->frames, 8);
  EXPECT_EQ(r->steps, 2);
  EXPECT_EQ(r->sampler, "dpm++2m");
  EXPECT_DOUBLE_EQ(r->cfg_scale, 3.0);
  EXPECT_EQ(renderer_->info().name, "random-tiny");
  EXPECT_EQ(renderer_->info().spatial_factor, 8);   // VAE ×4, patch ×2
  EXPECT_EQ(renderer_->info().temporal_factor, 4);  // one latent frame per block, VAE ×4
}

TEST_F(RendererTest, RejectsBadRequestsWithMessages) {
  struct Case {
    RenderRequest request;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{.prompt = "x", .width = 30}, "multiples of 8"},
      {{.prompt = "x", .width = 4096}, "at most 1024"},
      {{.prompt = "x", .frames = 6}, "multiple of 4 frames"},
      {{.prompt = "x", .frames = -1}, "frames must be"},
      {{.prompt = "x", .steps = 500}, "steps must be"},
      {{.prompt = "x", .cfg_scale = 99}, "cfg scale"},
      {{.prompt = "x", .sampler = "heun"}, "unknown sampler 'heun'"},
      {{.prompt = std::string(5000, 'a')}, "prompt is 5000 bytes"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RenderRequest> r = renderer_->Resolve(c.request);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(r.status().message()).find(c.message), std::string::npos) << r.status();
  }
}

TEST_F(RendererTest, StreamsEachBlockBeforeTheNextIsDenoised) {
  std::vector<std::string> events;
  RecordingSink sink;
  sink.events = &events;
  int progress_calls = 0;
  const absl::Status s = renderer_->Render(
      {.prompt = "a red circle moving right", .frames = 12, .seed = 3}, sink,
      [&](const RenderProgress& p) {
        ++progress_calls;
        EXPECT_EQ(p.total_blocks, 3);
        EXPECT_EQ(p.total_steps, 2);
        events.push_back("step " + std::to_string(p.block) + "/" + std::to_string(p.step));
      },
      nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(progress_calls, 6);
  ASSERT_EQ(sink.blocks.size(), 3u);
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(sink.blocks[b].first_frame, 4 * b);
    EXPECT_EQ(sink.blocks[b].count, 4);
    EXPECT_EQ(sink.blocks[b].width, 32);
  }
  // Block 0 is written before block 1's first step: frames stream as blocks finish.
  const auto write0 = std::find(events.begin(), events.end(), "write 0+4");
  const auto step1 = std::find(events.begin(), events.end(), "step 1/1");
  ASSERT_NE(write0, events.end());
  ASSERT_NE(step1, events.end());
  EXPECT_LT(write0 - events.begin(), step1 - events.begin());
}

TEST_F(RendererTest, SameSeedSameFramesAndImagesAreOneFrame) {
  auto render = [&](RenderRequest r) {
    RecordingSink sink;
    std::vector<std::string> events;
    sink.events = &events;
    EXPECT_TRUE(renderer_->Render(r, sink, nullptr, nullptr).ok());
    std::vector<uint8_t> all;
    for (const FrameBlock& b : sink.blocks) all.insert(all.end(), b.rgb.begin(), b.rgb.end());
    return all;
  };
  const std::vector<uint8_t> a = render({.prompt = "a blue square", .seed = 9});
  EXPECT_EQ(a.size(), 8u * 32 * 32 * 3);
  EXPECT_EQ(a, render({.prompt = "a blue square", .seed = 9}));
  EXPECT_NE(a, render({.prompt = "a blue square", .seed = 10}));
  EXPECT_EQ(render({.prompt = "a blue square", .frames = 1, .seed = 9}).size(), 32u * 32 * 3);
}

TEST_F(RendererTest, CancelReturnsCancelled) {
  RecordingSink sink;
  std::vector<std::string> events;
  sink.events = &events;
  std::atomic<bool> cancel{false};
  const absl::Status s = renderer_->Render(
      {.prompt = "a", .frames = 16}, sink, [&](const RenderProgress&) { cancel = true; }, &cancel);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(sink.blocks.empty());
}

TEST(RendererLoadTest, MissingModelIsNotFound) {
  absl::StatusOr<std::unique_ptr<Renderer>> r = LoadRenderer("/nonexistent/model", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace reel
