// Failures inside one process, where the test can control the timing exactly: a worker that stops
// cleanly gives its job back, a gateway restarted under a worker that keeps rendering gives the job
// back to that worker (nothing is rendered twice), and a job whose workers keep vanishing fails
// after max_attempts with a reason.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/common/client.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);

v1::GenerateRequest SlowJob() {
  v1::GenerateRequest r;
  r.set_prompt("a red ball");
  r.set_frames(16);
  r.set_steps(10);  // 4 blocks × 10 steps × 20 ms ≈ 0.8 s
  return r;
}

FakeRendererOptions Slow() {
  FakeRendererOptions o;
  o.step_delay = absl::Milliseconds(20);
  return o;
}

bool RunningPastStep(const v1::Job& j, int step) {
  return j.state() == v1::Job::RUNNING && (j.progress().block() > 0 || j.progress().step() >= step);
}

TEST(FailoverTest, AStoppingWorkerReleasesItsJobWithoutPenalty) {
  TempDir dir;
  StackOptions options;
  options.max_attempts = 1;  // a penalized re-queue would fail the job at once
  auto gateway = StartGateway(dir.path(), options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto stub = Client((*gateway)->port());
  FakeRenderer renderer(Slow());
  auto first = StartWorker((*gateway)->port(), renderer, (*gateway)->result_dir(), "", "first");
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, SlowJob(), &job).ok());
  ASSERT_TRUE(RunningPastStep(
      WaitForJob(
          *stub, job.id(), [](const v1::Job& j) { return RunningPastStep(j, 2); }, kTimeout),
      2));
  first->Stop();  // releases the job: QUEUED again, not FAILED despite max_attempts = 1
  v1::Job released;
  ASSERT_TRUE(GetJob(*stub, job.id(), &released).ok());
  EXPECT_EQ(released.state(), v1::Job::QUEUED);
  auto second = StartWorker((*gateway)->port(), renderer, (*gateway)->result_dir(), "", "second");
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, kTimeout);
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message();
  EXPECT_EQ(done.worker_id(), "second");
  second->Stop();
  (*gateway)->Shutdown();
}

TEST(FailoverTest, AWorkerThatOutlivesAGatewayRestartKeepsItsJob) {
  TempDir dir;
  auto gateway = StartGateway(dir.path());
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  const int port = (*gateway)->port();
  FakeRenderer renderer(Slow());
  auto worker = StartWorker(port, renderer, (*gateway)->result_dir(), "", "survivor");
  auto stub = Client(port);
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, SlowJob(), &job).ok());
  ASSERT_TRUE(RunningPastStep(
      WaitForJob(
          *stub, job.id(), [](const v1::Job& j) { return RunningPastStep(j, 2); }, kTimeout),
      2));
  (*gateway)->Shutdown(absl::ZeroDuration());
  gateway->reset();  // the job is RUNNING on disk; the worker keeps rendering

  gateway::GatewayOptions again;
  again.listen =
      absl::StrCat("127.0.0.1:", port);  // the worker's channel reconnects to the same port
  again.data_dir = dir.path();
  again.scheduler.heartbeat_interval = absl::Milliseconds(100);
  auto restarted = gateway::Gateway::Start(again);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  stub = Client(port);
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, kTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message();
  EXPECT_EQ(done.attempts(), 1);  // reclaimed, not leased again
  EXPECT_EQ(done.worker_id(), "survivor");
  EXPECT_EQ(renderer.renders_started(), 1);  // rendered once
  const std::string out = dir.File("out.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", job.id(), out).ok());
  EXPECT_EQ(Probe(out).at("nb_read_frames"), "16");
  worker->Stop();
  (*restarted)->Shutdown();
}

// The worker protocol driven by hand (the WorkerService calls, straight on the scheduler): workers
// that lease and then go silent, as a crashed process does. After max_attempts the job fails with a
// reason.
TEST(FailoverTest, AJobWhoseWorkersKeepVanishingFailsAfterMaxAttempts) {
  TempDir dir;
  StackOptions options;
  options.max_attempts = 2;
  options.worker_timeout = absl::Milliseconds(200);
  auto gateway = StartGateway(dir.path(), options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  gateway::Scheduler& scheduler = (*gateway)->scheduler();
  auto stub = Client((*gateway)->port());
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, SlowJob(), &job).ok());
  for (int attempt = 1; attempt <= 2; ++attempt) {
    v1::RegisterWorkerRequest hello;
    hello.set_worker_id(absl::StrCat("doomed-", attempt));
    *hello.add_models() = v1::ModelDescription();
    ASSERT_TRUE(scheduler.Register(hello).ok());
    v1::LeaseJobRequest lease;
    lease.set_worker_id(hello.worker_id());
    auto leased = scheduler.Lease(lease, [] { return false; });
    ASSERT_TRUE(leased.ok());
    ASSERT_EQ(leased->job_id(), job.id());
    ASSERT_EQ(leased->attempt(), attempt);
    // Silence: no heartbeat. The liveness thread re-queues (or, the last time, fails) the job.
    const v1::Job after = WaitForJob(
        *stub, job.id(), [](const v1::Job& j) { return j.state() != v1::Job::RUNNING; }, kTimeout);
    if (attempt < 2) {
      EXPECT_EQ(after.state(), v1::Job::QUEUED);
    } else {
      EXPECT_EQ(after.state(), v1::Job::FAILED);
      EXPECT_EQ(after.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
      EXPECT_NE(after.error().message().find("doomed-2"), std::string::npos)
          << after.error().message();
      EXPECT_NE(after.error().message().find("2 attempts"), std::string::npos)
          << after.error().message();
    }
    // The lost worker's late report is refused: its lease is gone.
    v1::ReportProgressRequest late;
    late.set_worker_id(hello.worker_id());
    late.set_job_id(job.id());
    late.set_attempt(attempt);
    if (attempt == 2) {
      EXPECT_EQ(scheduler.ReportProgress(late).status().code(),
                absl::StatusCode::kFailedPrecondition);
    }
  }
  (*gateway)->Shutdown();
}

}  // namespace
}  // namespace reel::testing
