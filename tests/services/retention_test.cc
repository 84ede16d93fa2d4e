// Result retention (--result_ttl, Job.expire_time, the sweeper) and the Delete RPC (AIP-135), on
// SQLite and on PostgreSQL (a real server the fixture starts). Oracles: Get's answer, the result
// directory's contents, the job's own end_time.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "google/protobuf/empty.pb.h"
#include "gtest/gtest.h"
#include "services/common/client.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/pg_server.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(60);

v1::GenerateRequest Job(int steps) {
  v1::GenerateRequest r;
  r.set_prompt("a red ball");
  r.set_frames(8);
  r.set_steps(steps);
  return r;
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

grpc::Status Delete(v1::GenerationService::Stub& stub, const std::string& id) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::DeleteJobRequest request;
  request.set_id(id);
  google::protobuf::Empty empty;
  return stub.Delete(&context, request, &empty);
}

std::vector<std::string> FilesOf(const std::string& dir, const std::string& id) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(id, 0) == 0) files.push_back(name);
  }
  return files;
}

class RetentionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      std::string why_not;
      server_ = PgServer::Start(&why_not);
      if (server_ == nullptr) GTEST_SKIP() << "PostgreSQL not available: " << why_not;
      options_.store = server_->Dsn();
    }
  }
  std::unique_ptr<PgServer> server_;
  StackOptions options_;
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Stores, RetentionTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(RetentionTest, FinishedJobsAndResultsExpireRunningOnesNever) {
  options_.result_ttl = absl::Seconds(2);
  auto gateway = StartGateway(dir_.path(), options_);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  FakeRendererOptions slow;
  slow.step_delay = absl::Milliseconds(50);
  FakeRenderer renderer(slow);
  auto worker = StartWorker((*gateway)->port(), renderer, (*gateway)->result_dir());
  auto stub = Client((*gateway)->port());
  const std::string results = (*gateway)->result_dir();

  v1::Job quick, slow_job;
  ASSERT_TRUE(Submit(*stub, Job(1), &quick).ok());
  EXPECT_FALSE(quick.has_expire_time());  // not finished: no expiry yet
  const v1::Job done = WaitForJob(*stub, quick.id(), Terminal, kTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED);
  ASSERT_TRUE(done.has_expire_time());
  EXPECT_EQ(TimeOf(done.expire_time()) - TimeOf(done.end_time()), absl::Seconds(2));
  EXPECT_EQ(FilesOf(results, quick.id()).size(), 1u);

  // 2 blocks × 40 steps × 50 ms = 4 s: it runs for longer than the TTL.
  ASSERT_TRUE(Submit(*stub, Job(40), &slow_job).ok());
  ASSERT_EQ(WaitForJob(
                *stub, slow_job.id(),
                [](const v1::Job& j) { return j.state() == v1::Job::RUNNING; }, kTimeout)
                .state(),
            v1::Job::RUNNING);

  // The quick job goes, record and then file, soon after its expire_time.
  auto gone = [&](const std::string& id) {
    v1::Job j;
    return GetJob(*stub, id, &j).error_code() == grpc::StatusCode::NOT_FOUND &&
           FilesOf(results, id).empty();
  };
  ASSERT_TRUE(WaitFor([&] { return gone(quick.id()); }, kTimeout));
  EXPECT_GE(absl::Now(), TimeOf(done.expire_time()));

  // The slow job was never touched while it ran, and expires in its turn once finished.
  const v1::Job slow_done = WaitForJob(*stub, slow_job.id(), Terminal, kTimeout);
  EXPECT_EQ(slow_done.state(), v1::Job::SUCCEEDED);
  EXPECT_GT(TimeOf(slow_done.end_time()) - TimeOf(slow_done.create_time()), absl::Seconds(2));
  ASSERT_TRUE(WaitFor([&] { return gone(slow_job.id()); }, kTimeout));
  worker->Stop();
  (*gateway)->Shutdown();
}

TEST_P(RetentionTest, DeleteRemovesAFinishedJobAndItsResultOnly) {
  auto gateway = StartGateway(dir_.path(), options_);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto stub = Client((*gateway)->port());
  const std::string results = (*gateway)->result_dir();
  v1::Job queued;
  ASSERT_TRUE(Submit(*stub, Job(1), &queued).ok());  // no worker yet: stays QUEUED
  EXPECT_FALSE(queued.has_expire_time());            // no --result_ttl: kept forever
  EXPECT_EQ(Delete(*stub, queued.id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Delete(*stub, "j0000000000000000").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete(*stub, "not an id!").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  FakeRenderer renderer;
  auto worker = StartWorker((*gateway)->port(), renderer, results);
  const v1::Job done = WaitForJob(*stub, queued.id(), Terminal, kTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED);
  EXPECT_FALSE(done.has_expire_time());
  ASSERT_EQ(FilesOf(results, done.id()).size(), 1u);
  v1::Job other;
  ASSERT_TRUE(Submit(*stub, Job(1), &other).ok());
  ASSERT_EQ(WaitForJob(*stub, other.id(), Terminal, kTimeout).state(), v1::Job::SUCCEEDED);

  ASSERT_TRUE(Delete(*stub, done.id()).ok());
  v1::Job gone;
  EXPECT_EQ(GetJob(*stub, done.id(), &gone).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(FilesOf(results, done.id()).empty());
  EXPECT_EQ(Delete(*stub, done.id()).error_code(), grpc::StatusCode::NOT_FOUND);
  // The other job is untouched.
  EXPECT_EQ(FilesOf(results, other.id()).size(), 1u);
  const std::string out = dir_.File("other.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", other.id(), out).ok());
  EXPECT_EQ(Probe(out).at("nb_read_frames"), "8");
#ifdef REEL_BINARY
  // The CLI verb.
  int rc = 0;
  const std::string said =
      RunCommand(absl::StrCat(REEL_BINARY, " delete --server 127.0.0.1:", (*gateway)->port(), " ",
                              other.id(), " 2>&1"),
                 &rc);
  EXPECT_EQ(rc, 0) << said;
  EXPECT_EQ(GetJob(*stub, other.id(), &gone).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(FilesOf(results, other.id()).empty());
#endif
  worker->Stop();
  (*gateway)->Shutdown();
}

}  // namespace
}  // namespace reel::testing
