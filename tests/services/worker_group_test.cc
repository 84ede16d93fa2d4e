// A worker group of 2 ranks (Gloo over loopback, threads of this process) serving jobs through the
// gateway as one worker: rank 0 runs the Worker over a GroupLeaderRenderer, rank 1 FollowGroup.
// A cancel stops both ranks at the same step and the group serves the next job to success (the
// video's equality with one process is tests/cli's --ranks test); Shutdown lets the follower
// return OK.
#include <atomic>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "pipeline/generate/random_model.h"
#include "pipeline/parallel/gloo_communicator.h"
#include "services/common/client.h"
#include "services/worker/group_renderer.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

GroupOptions Rank(const std::string& dir, int rank) {
  GroupOptions o;
  o.group_id = "workers";
  o.rank = rank;
  o.world_size = 2;
  o.address = dir;
  o.timeout = absl::Seconds(20);
  return o;
}

TEST(WorkerGroupTest, RequestsSurviveTheBroadcastEncoding) {
  RenderRequest r;
  r.prompt = "a red circle \xE2\x86\x92 right";
  r.negative_prompt = "blur";
  r.sampler = "euler";
  r.width = 48;
  r.frames = 8;
  r.fps = 7.5;
  r.cfg_scale = 2.25;
  r.seed = 1234567890123ull;
  const absl::StatusOr<RenderRequest> back =
      worker::DeserializeRequest(worker::SerializeRequest(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->prompt, r.prompt);
  EXPECT_EQ(back->seed, r.seed);
  EXPECT_EQ(back->cfg_scale, r.cfg_scale);
  EXPECT_FALSE(worker::DeserializeRequest("short").ok());
}

TEST(WorkerGroupTest, TwoRanksServeJobsThroughTheGatewayAsOneWorker) {
  TempDir dir;
  ASSERT_TRUE(WriteRandomModel(dir.File("model")).ok());
  const std::string rendezvous = dir.File("rendezvous");
  std::filesystem::create_directories(rendezvous);

  // Rank 0's pieces outlive the guard below, which outlives rank 1's thread.
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = absl::UnknownError("not created");
  absl::StatusOr<std::unique_ptr<Renderer>> inner = absl::UnknownError("not loaded");
  std::unique_ptr<worker::GroupLeaderRenderer> leader;

  // Rank 1: its own renderer, following rank 0 until it shuts the group down.
  absl::Status follower_status = absl::UnknownError("not run");
  std::thread follower([&] {
    absl::StatusOr<std::unique_ptr<GlooCommunicator>> own =
        GlooCommunicator::Create(Rank(rendezvous, 1));
    if (!own.ok()) {
      follower_status = own.status();
      return;
    }
    RendererOptions options;
    options.threads = 1;
    options.parallel.comm = own->get();
    absl::StatusOr<std::unique_ptr<Renderer>> renderer = LoadRenderer(dir.File("model"), options);
    follower_status = renderer.ok() ? worker::FollowGroup(**renderer, **own) : renderer.status();
  });
  // However the test ends, rank 1 is told to stop (or times out) and is joined.
  struct JoinFollower {
    std::thread& thread;
    std::unique_ptr<worker::GroupLeaderRenderer>& leader;
    ~JoinFollower() {
      if (leader != nullptr) (void)leader->Shutdown();
      if (thread.joinable()) thread.join();
    }
  } join_follower{follower, leader};

  comm = GlooCommunicator::Create(Rank(rendezvous, 0));
  ASSERT_TRUE(comm.ok()) << comm.status();
  RendererOptions options;
  options.threads = 1;
  options.parallel.comm = comm->get();
  inner = LoadRenderer(dir.File("model"), options);
  ASSERT_TRUE(inner.ok()) << inner.status();
  leader = std::make_unique<worker::GroupLeaderRenderer>(**inner, **comm, absl::Milliseconds(500));

  auto gateway = StartGateway(dir.File("data"));
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto worker = StartWorker((*gateway)->port(), *leader, (*gateway)->result_dir());
  ASSERT_TRUE(worker->WaitUntilRegistered(absl::Seconds(10)));
  auto stub = Client((*gateway)->port());

  // A long job cancelled mid-render: both ranks stop at the same step, the group stays usable.
  v1::GenerateRequest long_one;
  long_one.set_prompt("a long one");
  long_one.set_frames(256);
  long_one.set_steps(50);
  v1::Job cancelled;
  ASSERT_TRUE(Submit(*stub, long_one, &cancelled).ok());
  const v1::Job running = WaitForJob(
      *stub, cancelled.id(), [](const v1::Job& j) { return j.progress().step() >= 2; },
      absl::Seconds(60));
  ASSERT_EQ(running.state(), v1::Job::RUNNING) << running.error().message();
  {
    grpc::ClientContext context;
    v1::CancelJobRequest cancel;
    cancel.set_id(cancelled.id());
    v1::Job after;
    ASSERT_TRUE(stub->Cancel(&context, cancel, &after).ok());
  }
  EXPECT_EQ(WaitForJob(*stub, cancelled.id(), Terminal, absl::Seconds(30)).state(),
            v1::Job::CANCELLED);

  // Then a job that finishes.
  v1::GenerateRequest r;
  r.set_prompt("a red circle moving left");
  r.set_frames(8);
  r.set_steps(2);
  r.set_seed(7);
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, r, &job).ok());
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, absl::Seconds(120));
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message();
  const std::string out = dir.File("group.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", job.id(), out).ok());
  const auto probe = Probe(out);
  ASSERT_FALSE(probe.empty());
  EXPECT_EQ(probe.at("nb_read_frames"), "8");

  worker->Stop();
  (*gateway)->Shutdown();
  EXPECT_TRUE(leader->Shutdown().ok());
  follower.join();
  EXPECT_TRUE(follower_status.ok()) << follower_status;
}

// Rank 1's view of the group, which the test can cut off (every later call fails, as when the
// rank dies; its thread then ends and its connections close).
class Breakable final : public Communicator {
 public:
  explicit Breakable(Communicator& inner) : inner_(inner) {}
  std::atomic<bool> cut{false};
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  absl::Status AllReduceSum(absl::Span<Tensor* const> t) override {
    return cut ? Cut() : inner_.AllReduceSum(t);
  }
  absl::Status AllGather(const Tensor& l, absl::Span<const int64_t> c, Tensor& o) override {
    return cut ? Cut() : inner_.AllGather(l, c, o);
  }
  absl::Status Broadcast(Tensor& t, int root) override {
    return cut ? Cut() : inner_.Broadcast(t, root);
  }
  absl::Status Exchange(absl::Span<const SendTo> s, absl::Span<const RecvFrom> r) override {
    return cut ? Cut() : inner_.Exchange(s, r);
  }
  absl::Status Barrier() override { return cut ? Cut() : inner_.Barrier(); }

 private:
  static absl::Status Cut() { return absl::UnavailableError("rank 1 was cut off by the test"); }
  Communicator& inner_;
};

TEST(WorkerGroupTest, ALostRankGivesTheJobBackAndAHealthyWorkerFinishesIt) {
  TempDir dir;
  ASSERT_TRUE(WriteRandomModel(dir.File("model")).ok());
  const std::string rendezvous = dir.File("rendezvous");
  std::filesystem::create_directories(rendezvous);
  absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = absl::UnknownError("not created");
  absl::StatusOr<std::unique_ptr<Renderer>> inner = absl::UnknownError("not loaded");
  std::unique_ptr<worker::GroupLeaderRenderer> leader;
  std::atomic<Breakable*> rank1{nullptr};
  absl::Status follower_status = absl::UnknownError("not run");
  std::thread follower([&] {
    GroupOptions o = Rank(rendezvous, 1);
    o.timeout = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<GlooCommunicator>> own = GlooCommunicator::Create(o);
    if (!own.ok()) {
      follower_status = own.status();
      return;
    }
    Breakable breakable(**own);
    RendererOptions options;
    options.threads = 1;
    options.parallel.comm = &breakable;
    absl::StatusOr<std::unique_ptr<Renderer>> renderer = LoadRenderer(dir.File("model"), options);
    rank1 = &breakable;
    follower_status =
        renderer.ok() ? worker::FollowGroup(**renderer, breakable) : renderer.status();
    rank1 = nullptr;
  });
  struct JoinFollower {
    std::thread& thread;
    std::unique_ptr<worker::GroupLeaderRenderer>& leader;
    ~JoinFollower() {
      if (leader != nullptr) (void)leader->Shutdown();
      if (thread.joinable()) thread.join();
    }
  } join_follower{follower, leader};

  GroupOptions zero = Rank(rendezvous, 0);
  zero.timeout = absl::Seconds(5);
  comm = GlooCommunicator::Create(zero);
  ASSERT_TRUE(comm.ok()) << comm.status();
  RendererOptions options;
  options.threads = 1;
  options.parallel.comm = comm->get();
  inner = LoadRenderer(dir.File("model"), options);
  ASSERT_TRUE(inner.ok()) << inner.status();
  std::atomic<bool> broken{false};
  leader = std::make_unique<worker::GroupLeaderRenderer>(**inner, **comm, absl::Milliseconds(500),
                                                         [&] { broken = true; });

  auto gateway = StartGateway(dir.File("data"));
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto group_worker =
      StartWorker((*gateway)->port(), *leader, (*gateway)->result_dir(), "", "group");
  ASSERT_TRUE(group_worker->WaitUntilRegistered(absl::Seconds(10)));
  auto stub = Client((*gateway)->port());
  v1::GenerateRequest r;
  r.set_prompt("a red circle moving left");
  r.set_frames(64);
  r.set_steps(20);
  r.set_seed(3);
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, r, &job).ok());
  const v1::Job running = WaitForJob(
      *stub, job.id(), [](const v1::Job& j) { return j.progress().step() >= 2; },
      absl::Seconds(60));
  ASSERT_EQ(running.state(), v1::Job::RUNNING) << running.error().message();
  ASSERT_NE(rank1.load(), nullptr);
  const absl::Time cut_at = absl::Now();
  rank1.load()->cut = true;
  // Rank 0 notices within the group timeout, gives the job back and reports the group broken.
  ASSERT_TRUE(WaitFor([&] { return broken.load(); }, absl::Seconds(15)));
  EXPECT_LT(absl::Now() - cut_at, absl::Seconds(5 + 3));
  group_worker->Stop();  // what on_broken does in reel-worker: the process stops
  follower.join();
  EXPECT_EQ(follower_status.code(), absl::StatusCode::kUnavailable) << follower_status;
  EXPECT_EQ(WaitForJob(
                *stub, job.id(), [](const v1::Job& j) { return j.state() == v1::Job::QUEUED; },
                absl::Seconds(10))
                .state(),
            v1::Job::QUEUED);

  // A healthy (single-process) worker finishes it.
  absl::StatusOr<std::unique_ptr<Renderer>> alone = LoadRenderer(dir.File("model"), {.threads = 1});
  ASSERT_TRUE(alone.ok()) << alone.status();
  auto healthy = StartWorker((*gateway)->port(), **alone, (*gateway)->result_dir(), "", "healthy");
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, absl::Seconds(120));
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message();
  EXPECT_EQ(done.worker_id(), "healthy");
  healthy->Stop();
  (*gateway)->Shutdown();
}

}  // namespace
}  // namespace reel::testing
