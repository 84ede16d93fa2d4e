// Client → gateway → worker → encoder with the real engine (LoadRenderer): first with a
// random-weight model (always available), then with the shipped models/reel-tiny (skipped when it
// is not there).
#include <filesystem>
#include <functional>

#include "gtest/gtest.h"
#include "pipeline/generate/random_model.h"
#include "pipeline/generate/renderer.h"
#include "services/common/client.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

// Renders `frames` frames through gateway and worker; `customize` edits the request; `done` gets
// the finished job.
void RenderThroughTheService(Renderer& renderer, const std::string& dir, int frames,
                             const std::function<void(v1::GenerateRequest&)>& customize = nullptr,
                             v1::Job* done_out = nullptr) {
  auto gateway = StartGateway(dir + "/data");
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto worker = StartWorker((*gateway)->port(), renderer, (*gateway)->result_dir());
  ASSERT_TRUE(worker->WaitUntilRegistered(absl::Seconds(10)));
  auto stub = Client((*gateway)->port());
  v1::GenerateRequest r;
  r.set_prompt("a red circle moving left");
  r.set_frames(frames);
  r.set_steps(2);
  r.set_seed(7);
  if (customize) customize(r);
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, r, &job).ok());
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, absl::Seconds(120));
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message();
  EXPECT_EQ(done.request().seed(), 7u);
  EXPECT_EQ(done.request().width(),
            renderer.info().default_width);  // the model's default, resolved
  const std::string out = dir + "/out.mp4";
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", job.id(), out).ok());
  const auto probe = Probe(out);
  ASSERT_FALSE(probe.empty());
  EXPECT_EQ(probe.at("codec_name"), "h264");
  EXPECT_EQ(probe.at("width"), std::to_string(renderer.info().default_width));
  EXPECT_EQ(probe.at("nb_read_frames"), std::to_string(frames));
  if (done_out != nullptr) *done_out = done;
  worker->Stop();
  (*gateway)->Shutdown();
}

TEST(RealModelTest, RandomWeightModelEndToEnd) {
  TempDir dir;
  ASSERT_TRUE(WriteRandomModel(dir.File("model")).ok());
  auto renderer = LoadRenderer(dir.File("model"), {.threads = 1});
  ASSERT_TRUE(renderer.ok()) << renderer.status();
  RenderThroughTheService(**renderer, dir.path(), 8);
}

TEST(RealModelTest, CachedJobRecordsItsPolicyAndCountsSkippedBlocks) {
  TempDir dir;
  ASSERT_TRUE(WriteRandomModel(dir.File("model")).ok());
  auto renderer = LoadRenderer(dir.File("model"), {.threads = 1});
  ASSERT_TRUE(renderer.ok()) << renderer.status();
  v1::Job done;
  RenderThroughTheService(
      **renderer, dir.path(), 8,
      [](v1::GenerateRequest& r) {
        r.set_steps(8);
        r.set_cache_policy("taylorseer");
        r.set_cache_interval(2);
      },
      &done);
  EXPECT_EQ(done.request().cache_policy(), "taylorseer");
  EXPECT_EQ(done.request().cache_interval(), 2);
  // taylorseer's 3 warm-up steps, then steps 3, 5 and the final 7 run every block; 4 and 6 skip.
  const v1::Progress& p = done.progress();
  const int64_t all = p.block_forwards_computed() + p.block_forwards_skipped();
  ASSERT_GT(all, 0);
  const int64_t per_forward = all / (8 * p.total_blocks());
  EXPECT_EQ(all, 8 * p.total_blocks() * per_forward);
  EXPECT_EQ(p.block_forwards_skipped(), 2 * p.total_blocks() * (per_forward - 1));
}

TEST(RealModelTest, ReelTinyEndToEnd) {
  const std::string model = std::string(REEL_SOURCE_DIR) + "/models/reel-tiny";
  if (!std::filesystem::exists(model + "/config.json")) {
    GTEST_SKIP()
        << model
        << " is not there (trained by tools/train); the random-weight test covers the path";
  }
  auto renderer = LoadRenderer(model, {.threads = 2});
  ASSERT_TRUE(renderer.ok()) << renderer.status();
  TempDir dir;
  const int block = std::max(1, (*renderer)->info().temporal_factor);
  RenderThroughTheService(**renderer, dir.path(), block * 2);
}

}  // namespace
}  // namespace reel::testing
