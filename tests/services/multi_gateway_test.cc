// Several gateways on one PostgreSQL database (services/README.md, "Several gateways"), against a
// real server the fixture starts: two reel-gateway processes with a worker each, one of them
// killed with SIGKILL mid-job; two gateways under load while the database restarts; Watch on one
// gateway of a job rendered through another. Oracles: every job's final record, the result files
// (ffprobe), the renderers' own count of renders, the status codes clients saw.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "services/common/client.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/pg_server.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kJobTimeout = absl::Seconds(120);

v1::GenerateRequest SlowJob(const std::string& key = "") {
  v1::GenerateRequest r;
  r.set_prompt("a red ball");
  r.set_frames(16);
  r.set_steps(10);  // 4 blocks × 10 steps × 20 ms ≈ 0.8 s
  r.set_idempotency_key(key);
  return r;
}

FakeRendererOptions Slow() {
  FakeRendererOptions o;
  o.step_delay = absl::Milliseconds(20);
  return o;
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::vector<std::string> ResultFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    files.push_back(e.path().filename().string());
  }
  return files;
}

class MultiGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    server_ = PgServer::Start(&why_not);
    if (server_ == nullptr) GTEST_SKIP() << "PostgreSQL not available: " << why_not;
    data_ = dir_.File("data");
    std::filesystem::create_directories(data_ + "/results");
  }

  // A reel-gateway process on the shared database and result directory; its port (0: failed).
  int SpawnGateway(const std::string& name, std::unique_ptr<ChildProcess>* child) {
    const std::string port_file = dir_.File(name + ".port");
    auto spawned = ChildProcess::Spawn(
        {REEL_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--data", data_, "--store", server_->Dsn(),
         "--port_file", port_file, "--heartbeat_ms", "100", "--worker_timeout_ms", "5000"},
        dir_.File(name + ".log"));
    EXPECT_TRUE(spawned.ok()) << spawned.status();
    if (!spawned.ok()) return 0;
    *child = *std::move(spawned);
    const int port = WaitForPortFile(port_file, **child, kStartTimeout);
    EXPECT_GT(port, 0) << (*child)->log();
    return port;
  }

  StackOptions InProcess(absl::Duration worker_timeout = absl::Seconds(5)) const {
    StackOptions o;
    o.store = server_->Dsn();
    o.worker_timeout = worker_timeout;
    return o;
  }

  std::unique_ptr<PgServer> server_;
  TempDir dir_;
  std::string data_;
};

int WorkersOf(v1::GenerationService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::ListModelsResponse models;
  if (!stub.ListModels(&context, v1::ListModelsRequest(), &models).ok()) return -1;
  return models.models_size() == 0 ? 0 : models.models(0).workers();
}

TEST_F(MultiGatewayTest, KillNineOfOneGatewayMidJobTheOtherCarriesOn) {
  std::unique_ptr<ChildProcess> first, second;
  const int p1 = SpawnGateway("first", &first);
  const int p2 = SpawnGateway("second", &second);
  ASSERT_TRUE(p1 > 0 && p2 > 0);
  // Each worker prefers its own gateway and fails over to the other (as behind a Service).
  FakeRenderer ra(Slow()), rb(Slow());
  auto wa = StartWorkerAt(absl::StrCat("ipv4:127.0.0.1:", p1, ",127.0.0.1:", p2), ra,
                          data_ + "/results", "", "wa", absl::Seconds(60));
  auto wb = StartWorkerAt(absl::StrCat("ipv4:127.0.0.1:", p2, ",127.0.0.1:", p1), rb,
                          data_ + "/results", "", "wb", absl::Seconds(60));
  auto stub1 = Client(p1);
  auto stub2 = Client(p2);
  // Each gateway sees both workers (the registry is in the database).
  ASSERT_TRUE(
      WaitFor([&] { return WorkersOf(*stub1) == 2 && WorkersOf(*stub2) == 2; }, kStartTimeout))
      << WorkersOf(*stub1) << " " << WorkersOf(*stub2);

  constexpr int kJobs = 10;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    v1::Job job;
    ASSERT_TRUE(Submit(i % 2 == 0 ? *stub1 : *stub2, SlowJob(), &job).ok());
    ids.push_back(job.id());
  }
  // Kill the first gateway while its worker renders a job leased through it.
  std::string victim;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const std::string& id : ids) {
          v1::Job j;
          if (GetJob(*stub2, id, &j).ok() && j.state() == v1::Job::RUNNING &&
              j.worker_id() == "wa" && j.progress().step() >= 2) {
            victim = id;
            return true;
          }
        }
        return false;
      },
      kJobTimeout));
  first->Signal(SIGKILL);
  const int status = first->Wait(absl::Seconds(10));
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  for (const std::string& id : ids) {
    const v1::Job done = WaitForJob(*stub2, id, Terminal, kJobTimeout);
    EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << id << ": " << done.error().message() << "\n"
                                                << second->log();
    // The worker outlived its gateway: it kept its lease and finished through the other one.
    EXPECT_EQ(done.attempts(), 1) << id << (id == victim ? " (the job running at the kill)" : "");
  }
  const v1::Job rescued = WaitForJob(*stub2, victim, Terminal, kJobTimeout);
  EXPECT_EQ(rescued.worker_id(), "wa");
  // Nothing rendered twice, nothing lost: one render and one result file per job.
  EXPECT_EQ(ra.renders_started() + rb.renders_started(), kJobs);
  EXPECT_EQ(ResultFiles(data_ + "/results").size(), static_cast<size_t>(kJobs));
  v1::ListJobsRequest list;
  list.set_page_size(100);
  v1::ListJobsResponse page;
  grpc::ClientContext context;
  ASSERT_TRUE(stub2->List(&context, list, &page).ok());
  EXPECT_EQ(page.jobs_size(), kJobs);
  EXPECT_GT(ra.renders_started(), 0);
  EXPECT_GT(rb.renders_started(), 0);
  const std::string out = dir_.File("victim.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub2, "", victim, out).ok());
  EXPECT_EQ(Probe(out).at("nb_read_frames"), "16");
  wa->Stop();
  wb->Stop();
  second->Signal(SIGTERM);
  EXPECT_NE(second->Wait(absl::Seconds(20)), -1);
}

TEST_F(MultiGatewayTest, ADatabaseRestartUnderLoadLosesNothing) {
  // Gateway 1 waits out the restart (a client deadline is 10 s: it answers before that); gateway 2
  // gives up at once and answers UNAVAILABLE, which the client retries with the same key.
  StackOptions patient = InProcess(), impatient = InProcess();
  patient.store_retry_budget = absl::Seconds(3);
  impatient.store_retry_budget = absl::Milliseconds(300);
  auto g1 = StartGateway(data_, patient);
  auto g2 = StartGateway(data_, impatient);
  ASSERT_TRUE(g1.ok() && g2.ok());
  FakeRenderer ra(Slow()), rb(Slow());
  auto wa = StartWorker((*g1)->port(), ra, data_ + "/results", "", "wa", absl::Seconds(60));
  auto wb = StartWorker((*g2)->port(), rb, data_ + "/results", "", "wb", absl::Seconds(60));
  auto stub1 = Client((*g1)->port());
  auto stub2 = Client((*g2)->port());

  // A client that submits kJobs jobs, each with an idempotency key, retrying what was UNAVAILABLE.
  constexpr int kJobs = 16;
  std::atomic<int> accepted{0};
  std::mutex mu;
  std::map<std::string, std::string> id_of_key;
  std::multiset<grpc::StatusCode> codes;
  absl::Duration longest_call;
  std::thread client([&] {
    for (int i = 0; i < kJobs; ++i) {
      const std::string key = absl::StrCat("key-", i);
      for (int tries = 0; tries < 200; ++tries) {
        v1::Job job;
        const absl::Time start = absl::Now();
        const grpc::Status s = Submit(i % 2 == 0 ? *stub1 : *stub2, SlowJob(key), &job);
        std::lock_guard<std::mutex> lock(mu);
        longest_call = std::max(longest_call, absl::Now() - start);
        codes.insert(s.error_code());
        if (s.ok()) {
          id_of_key[key] = job.id();
          ++accepted;
          break;
        }
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
        absl::SleepFor(absl::Milliseconds(200));
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
  ASSERT_TRUE(WaitFor([&] { return accepted.load() >= 5; }, kJobTimeout));
  ASSERT_TRUE(server_->Stop("immediate").ok());  // a crash of the database server
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(server_->Start().ok());
  client.join();

  std::lock_guard<std::mutex> lock(mu);
  // For the record (services/README.md): what the restart cost the client.
  std::printf("Submit calls: %zu OK, %zu UNAVAILABLE; longest call %s\n",
              codes.count(grpc::StatusCode::OK), codes.count(grpc::StatusCode::UNAVAILABLE),
              absl::FormatDuration(longest_call).c_str());
  for (grpc::StatusCode code : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK || code == grpc::StatusCode::UNAVAILABLE)
        << "a client saw code " << code;
  }
  ASSERT_EQ(id_of_key.size(), static_cast<size_t>(kJobs));
  std::set<std::string> ids;
  for (const auto& [key, id] : id_of_key) ids.insert(id);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kJobs));  // one job per key, retries included
  for (const std::string& id : ids) {
    const v1::Job done = WaitForJob(*stub2, id, Terminal, kJobTimeout);
    EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << id << ": " << done.error().message();
  }
  v1::ListJobsRequest list;
  list.set_page_size(100);
  v1::ListJobsResponse page;
  grpc::ClientContext context;
  ASSERT_TRUE(stub1->List(&context, list, &page).ok());
  EXPECT_EQ(page.jobs_size(), kJobs);  // nothing lost, nothing twice
  EXPECT_EQ(ResultFiles(data_ + "/results").size(), static_cast<size_t>(kJobs));
  wa->Stop();
  wb->Stop();
  (*g1)->Shutdown();
  (*g2)->Shutdown();
}

// Also: a job that runs for longer than the worker timeout keeps its lease (renewed through gateway
// 1) although gateway 2, which never hears from its worker, runs the lease expiry too.
TEST_F(MultiGatewayTest, WatchOnOneGatewaySeesProgressOfAJobRunThroughAnother) {
  auto g1 = StartGateway(data_, InProcess(absl::Seconds(2)));
  auto g2 = StartGateway(data_, InProcess(absl::Seconds(2)));
  ASSERT_TRUE(g1.ok() && g2.ok());
  FakeRenderer renderer(Slow());
  auto worker = StartWorker((*g1)->port(), renderer, data_ + "/results", "", "only-on-g1");
  auto stub2 = Client((*g2)->port());
  ASSERT_TRUE(WaitFor([&] { return WorkersOf(*stub2) == 1; }, kStartTimeout));
  v1::Job job;
  v1::GenerateRequest request = SlowJob();
  request.set_steps(40);  // 4 blocks × 40 steps × 20 ms ≈ 3.2 s
  ASSERT_TRUE(Submit(*stub2, request, &job).ok());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kJobTimeout));
  v1::WatchJobRequest watch;
  watch.set_id(job.id());
  auto stream = stub2->Watch(&context, watch);
  v1::JobEvent event;
  int progress_events = 0;
  v1::Job final_job;
  while (stream->Read(&event)) {
    if (event.has_progress() && event.progress().state() == v1::Job::RUNNING &&
        event.progress().progress().step() > 0) {
      ++progress_events;
    }
    if (event.has_final()) final_job = event.final();
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(final_job.state(), v1::Job::SUCCEEDED);
  EXPECT_EQ(final_job.worker_id(), "only-on-g1");
  EXPECT_EQ(final_job.attempts(), 1);
  // Never taken back (a lapsed lease is re-queued, and then reclaimed by its live worker: only the
  // counters tell).
  for (auto* g : {g1->get(), g2->get()}) {
    EXPECT_NE(g->metrics().Render().find("\nreel_jobs_requeued_total 0\n"), std::string::npos);
  }
  EXPECT_GT(absl::ToUnixMillis(TimeOf(final_job.end_time())) -
                absl::ToUnixMillis(TimeOf(final_job.start_time())),
            2000);
  EXPECT_EQ(renderer.renders_started(), 1);
  EXPECT_GT(progress_events, 1) << "gateway 2 saw no live progress of the job gateway 1 ran";
  worker->Stop();
  (*g1)->Shutdown();
  (*g2)->Shutdown();
}

// A worker that dies together with its gateway: nobody renews its lease, and the surviving gateway
// re-queues the job after the worker timeout for another worker to finish.
TEST_F(MultiGatewayTest, AJobWhoseWorkerDiedWithItsGatewayIsRequeuedByTheOther) {
  auto g1 = StartGateway(data_, InProcess(absl::Seconds(1)));
  auto g2 = StartGateway(data_, InProcess(absl::Seconds(1)));
  ASSERT_TRUE(g1.ok() && g2.ok());
  auto stub2 = Client((*g2)->port());
  v1::Job job;
  ASSERT_TRUE(Submit(*stub2, SlowJob(), &job).ok());
  // The worker protocol by hand on gateway 1: register, lease, then silence.
  v1::RegisterWorkerRequest hello;
  hello.set_worker_id("doomed");
  *hello.add_models() = v1::ModelDescription();
  ASSERT_TRUE((*g1)->scheduler().Register(hello).ok());
  v1::LeaseJobRequest lease;
  lease.set_worker_id("doomed");
  auto leased = (*g1)->scheduler().Lease(lease, [] { return false; });
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->job_id(), job.id());
  (*g1)->Shutdown(absl::ZeroDuration());
  g1->reset();

  FakeRenderer renderer(Slow());
  auto rescuer = StartWorker((*g2)->port(), renderer, data_ + "/results", "", "rescuer");
  const v1::Job done = WaitForJob(*stub2, job.id(), Terminal, kJobTimeout);
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message();
  EXPECT_EQ(done.attempts(), 2);
  EXPECT_EQ(done.worker_id(), "rescuer");
  rescuer->Stop();
  (*g2)->Shutdown();
}

}  // namespace
}  // namespace reel::testing
