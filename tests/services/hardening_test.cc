// The service as a hostile or unlucky client meets it (issue 21): a full disk under the job store,
// slow HTTP clients, bytes that are not a request, client tokens calling the worker API, several
// tenants, per-client caps, the cost budget, bad TLS files, and ListModels. Every check runs
// against a real gateway on 127.0.0.1 with real workers (fake renderer, real encoder); the full
// disk is a fault-injecting SQLite VFS (tests/services/full_disk_vfs.h says why not a tmpfs).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "reel/v1/worker.grpc.pb.h"
#include "services/common/client.h"
#include "services/worker/memory_limit.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/full_disk_vfs.h"
#include "tests/services/invalid_requests.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kJobTimeout = absl::Seconds(30);

// Tokens of the multi-tenant tests: two clients, an admin, a worker.
constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kOps[] = "ops-token-0123456789ab";
constexpr char kPod[] = "pod-token-0123456789ab";

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override { InstallFullDiskVfs(); }
  void TearDown() override {
    SetDiskFull(false);
    for (auto& w : workers_) w->Stop();
    if (gateway_) gateway_->Shutdown();
  }
  std::string TokenFile() {
    const std::string file = dir_.File("tokens");
    std::ofstream(file) << "# two tenants, an operator, the workers\n"
                        << kAlice << " client alice\n"
                        << kBob << " client bob\n"
                        << kOps << " admin ops\n"
                        << kPod << " worker\n";
    return file;
  }
  void StartStack(StackOptions options = {}, bool with_worker = true,
                  FakeRendererOptions renderer = {}) {
    auto gateway = StartGateway(dir_.path(), options);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
    stub_ = Client(gateway_->port());
    renderer_ = std::make_unique<FakeRenderer>(renderer);
    worker_token_ = options.token_file.empty() ? "" : kPod;
    if (with_worker) AddWorker();
  }
  void AddWorker(absl::Duration finish_retry_budget = absl::Seconds(5),
                 int64_t memory_limit_bytes = 0) {
    workers_.push_back(StartWorker(gateway_->worker_port(), *renderer_, gateway_->result_dir(),
                                   worker_token_, "", finish_retry_budget, memory_limit_bytes));
    ASSERT_TRUE(workers_.back()->WaitUntilRegistered(absl::Seconds(10)));
  }
  v1::Job SubmitOk(const v1::GenerateRequest& request, const std::string& token = "") {
    v1::Job job;
    const grpc::Status s = Submit(*stub_, request, &job, token);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }
  std::shared_ptr<grpc::Channel> Channel(int port) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                               grpc::InsecureChannelCredentials());
  }

  TempDir dir_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<v1::GenerationService::Stub> stub_;
  std::unique_ptr<FakeRenderer> renderer_;
  std::string worker_token_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
};

v1::GenerateRequest Video(int frames = 8) {
  v1::GenerateRequest r = ValidRequest();
  r.set_frames(frames);
  r.set_width(32);
  r.set_height(32);
  r.set_steps(3);
  return r;
}

// --- 1, 2: disk full ---

TEST_F(HardeningTest, DiskFullWhileAJobFinishesRequeuesItOnceSpaceReturns) {
  FakeRendererOptions slow;
  slow.step_delay = absl::Milliseconds(100);  // long enough to fill the disk while it renders
  StartStack({}, /*with_worker=*/false, slow);
  AddWorker(/*finish_retry_budget=*/absl::Seconds(1));
  const v1::Job job = SubmitOk(Video());
  ASSERT_EQ(WaitForJob(
                *stub_, job.id(), [](const v1::Job& j) { return j.state() == v1::Job::RUNNING; },
                kJobTimeout)
                .state(),
            v1::Job::RUNNING);
  ::testing::internal::CaptureStderr();
  SetDiskFull(true);

  // Submit on a full disk: RESOURCE_EXHAUSTED (retryable), saying why.
  v1::Job refused;
  const grpc::Status full = Submit(*stub_, Video(), &refused);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
  EXPECT_THAT(full.error_message(), HasSubstr("full"));

  // The worker finishes rendering, cannot get its FinishJob recorded, retries, gives up, and keeps
  // heartbeating without the lease. The gateway takes the lease back (and cannot record that either
  // while the disk is full: the job still reads RUNNING).
  ASSERT_TRUE(WaitFor([&] { return workers_[0]->jobs_finished() >= 1; }, kJobTimeout));
  // Several heartbeats (100 ms) and liveness passes while still full; 500 ms proved too short on a
  // loaded machine (the take-back came 0.6 s after the worker gave up, once the disk had space).
  absl::SleepFor(absl::Seconds(2));
  v1::Job during;
  ASSERT_TRUE(GetJob(*stub_, job.id(), &during).ok());
  EXPECT_EQ(during.state(), v1::Job::RUNNING);

  SetDiskFull(false);
  const v1::Job done = WaitForJob(*stub_, job.id(), Terminal, kJobTimeout);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << done.ShortDebugString();
  EXPECT_EQ(done.attempts(), 2);  // re-queued once, rendered again
  EXPECT_GT(refused_writes(), 0);
  // The operator hears about each step.
  EXPECT_THAT(log, HasSubstr("Submit: cannot record the job"));
  EXPECT_THAT(log, HasSubstr("FinishJob: cannot record the end of job " + job.id()));
  EXPECT_THAT(log, HasSubstr("no longer holds it"));
  EXPECT_THAT(log, HasSubstr("re-queued after the store recovered"));
}

// --- 3: slow HTTP clients ---

TEST_F(HardeningTest, SlowHttpClientsDoNotBlockHealthz) {
  StackOptions options;
  options.metrics_port = 0;
  StartStack(options, /*with_worker=*/false);
  const int port = gateway_->metrics_port();
  // Eight slow-loris clients: each sends its request line one byte at a time, a byte every 500 ms,
  // never finishing the headers while the probe runs.
  std::atomic<bool> stop{false};
  std::vector<std::thread> slow;
  std::atomic<int> connected{0};
  for (int i = 0; i < 8; ++i) {
    slow.emplace_back([&] {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
        connected.fetch_add(1);
        const std::string request = "GET /healthz HTTP/1.1\r\nX-Slow: ";
        for (size_t n = 0; !stop.load(); ++n) {
          send(fd, request.data() + (n % request.size()), 1, MSG_NOSIGNAL);
          for (int t = 0; t < 10 && !stop.load(); ++t) absl::SleepFor(absl::Milliseconds(50));
        }
      }
      close(fd);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return connected.load() == 8; }, absl::Seconds(10)));
  absl::SleepFor(absl::Seconds(1));  // the slow clients are mid-request
  // The bound is far above any answer time; the old one-connection-at-a-time server stayed blocked
  // for as long as a slow client kept sending (up to 8 KiB at a byte per interval: hours).
  EXPECT_EQ(HttpGet(port, "/healthz", absl::Seconds(20)), "200 ok\n");
  EXPECT_THAT(HttpGet(port, "/metrics", absl::Seconds(20)), HasSubstr("200 # HELP"));
  stop = true;
  for (std::thread& t : slow) t.join();
}

// --- 4: bytes that are not a request ---

TEST_F(HardeningTest, UnparseableRequestsAreInvalidArgumentWithAMessage) {
  StartStack({}, /*with_worker=*/false);
  auto channel = Channel(gateway_->port());
  // Field 1 (prompt) = the two bytes C3 28: not UTF-8, which proto3 refuses to parse.
  const std::string bad_utf8("\x0a\x02\xc3\x28", 4);
  // A length-delimited field whose length runs past the end: not a protobuf at all.
  const std::string not_protobuf("\x0a\x7f\x01\x02", 4);
  for (const std::string method :
       {"/reel.v1.GenerationService/Submit", "/reel.v1.GenerationService/Get"}) {
    for (const std::string& bytes : {bad_utf8, not_protobuf}) {
      const grpc::Status s = RawUnaryCall(channel, method, bytes);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
      EXPECT_THAT(s.error_message(), HasSubstr("do not parse")) << method;
    }
  }
  // A streaming method too.
  const grpc::Status watch = RawUnaryCall(channel, "/reel.v1.GenerationService/Watch", bad_utf8);
  EXPECT_EQ(watch.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << watch.error_message();
  // The same server still answers a good request.
  v1::Job job;
  EXPECT_TRUE(Submit(*stub_, Video(), &job).ok());
}

// --- 6: roles ---

TEST_F(HardeningTest, ClientTokensCannotUseTheWorkerApiNorWorkerTokensThePublicOne) {
  StackOptions options;
  options.token_file = TokenFile();
  StartStack(options);  // the worker registers with its worker token
  auto worker_stub = v1::WorkerService::NewStub(Channel(gateway_->port()));
  for (const char* token : {kAlice, kOps}) {
    grpc::ClientContext context;
    service::Prepare(context, token, absl::Seconds(10));
    v1::RegisterWorkerRequest request;
    request.set_worker_id("fake-worker");
    v1::RegisterWorkerResponse response;
    const grpc::Status s = worker_stub->Register(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << token;
    EXPECT_THAT(s.error_message(), HasSubstr("role worker"));
  }
  {  // nor can a client fail someone's job through FinishJob
    const v1::Job job = SubmitOk(Video(), kBob);
    grpc::ClientContext context;
    service::Prepare(context, kAlice, absl::Seconds(10));
    v1::FinishJobRequest finish;
    finish.set_job_id(job.id());
    finish.set_attempt(1);
    finish.mutable_error()->set_message("owned");
    v1::FinishJobResponse response;
    EXPECT_EQ(worker_stub->FinishJob(&context, finish, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(WaitForJob(*stub_, job.id(), Terminal, kJobTimeout, kBob).state(),
              v1::Job::SUCCEEDED);
  }
  v1::Job job;
  const grpc::Status s = Submit(*stub_, Video(), &job, kPod);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
}

TEST_F(HardeningTest, WorkerServiceCanHaveItsOwnListener) {
  StackOptions options;
  options.token_file = TokenFile();
  options.worker_listen = "127.0.0.1:0";
  StartStack(options);  // the worker connects to worker_port()
  ASSERT_NE(gateway_->worker_port(), gateway_->port());
  // The public port does not serve WorkerService at all, even to a worker token ...
  auto public_workers = v1::WorkerService::NewStub(Channel(gateway_->port()));
  grpc::ClientContext context;
  service::Prepare(context, kPod, absl::Seconds(10));
  v1::RegisterWorkerRequest request;
  v1::RegisterWorkerResponse response;
  EXPECT_EQ(public_workers->Register(&context, request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // ... nor the worker port the public API; and jobs still run.
  auto private_clients = Client(gateway_->worker_port());
  v1::Job job;
  EXPECT_EQ(Submit(*private_clients, Video(), &job, kAlice).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  job = SubmitOk(Video(), kAlice);
  EXPECT_EQ(WaitForJob(*stub_, job.id(), Terminal, kJobTimeout, kAlice).state(),
            v1::Job::SUCCEEDED);
}

// --- 7: tenant isolation ---

TEST_F(HardeningTest, ClientsSeeOnlyTheirOwnJobsAndAdminsSeeAll) {
  StackOptions options;
  options.token_file = TokenFile();
  StartStack(options);
  v1::GenerateRequest keyed = Video();
  keyed.set_idempotency_key("same-key");
  const v1::Job alice = SubmitOk(keyed, kAlice);
  const v1::Job bob = SubmitOk(keyed, kBob);
  EXPECT_NE(alice.id(), bob.id()) << "idempotency keys are per client";
  ASSERT_EQ(WaitForJob(*stub_, bob.id(), Terminal, kJobTimeout, kBob).state(), v1::Job::SUCCEEDED);

  // Alice cannot see, cancel, watch or fetch Bob's job: NOT_FOUND, as if it did not exist.
  v1::Job seen;
  EXPECT_EQ(GetJob(*stub_, bob.id(), &seen, kAlice).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    service::Prepare(context, kAlice, absl::Seconds(10));
    v1::CancelJobRequest cancel;
    cancel.set_id(bob.id());
    EXPECT_EQ(stub_->Cancel(&context, cancel, &seen).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    service::Prepare(context, kAlice, absl::Seconds(10));
    v1::WatchJobRequest watch;
    watch.set_id(bob.id());
    auto reader = stub_->Watch(&context, watch);
    v1::JobEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    service::Prepare(context, kAlice, absl::Seconds(10));
    v1::FetchResultRequest fetch;
    fetch.set_id(bob.id());
    auto reader = stub_->FetchResult(&context, fetch);
    v1::ResultChunk chunk;
    EXPECT_FALSE(reader->Read(&chunk));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  auto list = [&](const char* token) {
    grpc::ClientContext context;
    service::Prepare(context, token, absl::Seconds(10));
    v1::ListJobsResponse page;
    EXPECT_TRUE(stub_->List(&context, v1::ListJobsRequest(), &page).ok());
    std::vector<std::string> ids;
    for (const v1::Job& j : page.jobs()) ids.push_back(j.id());
    return ids;
  };
  EXPECT_EQ(list(kAlice), std::vector<std::string>{alice.id()});
  EXPECT_EQ(list(kBob), std::vector<std::string>{bob.id()});
  EXPECT_EQ(list(kOps), (std::vector<std::string>{bob.id(), alice.id()}));
  EXPECT_TRUE(GetJob(*stub_, bob.id(), &seen, kOps).ok());
  EXPECT_EQ(seen.owner(), "bob");  // what an admin sees of whose job it is
  EXPECT_TRUE(GetJob(*stub_, bob.id(), &seen, kBob).ok());
  EXPECT_EQ(alice.owner(), "alice");
}

// --- 8: per-client limits ---

TEST_F(HardeningTest, OneClientCannotHoldEveryStream) {
  StackOptions options;
  options.token_file = TokenFile();
  options.max_streams_per_client = 2;
  StartStack(options, /*with_worker=*/false);  // no worker: the job stays QUEUED, watches stay open
  const v1::Job job = SubmitOk(Video(), kAlice);
  auto open_watch = [&](const char* token, grpc::ClientContext& context, v1::JobEvent* first) {
    service::Prepare(context, token, absl::Seconds(30));
    v1::WatchJobRequest watch;
    watch.set_id(job.id());
    auto reader = stub_->Watch(&context, watch);
    const bool ok = reader->Read(first);
    return std::make_pair(ok, std::move(reader));
  };
  grpc::ClientContext c1, c2, c3;
  v1::JobEvent event;
  auto w1 = open_watch(kAlice, c1, &event);
  auto w2 = open_watch(kAlice, c2, &event);
  ASSERT_TRUE(w1.first && w2.first);
  auto w3 = open_watch(kAlice, c3, &event);
  EXPECT_FALSE(w3.first);
  const grpc::Status third = w3.second->Finish();
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.error_message(), HasSubstr("max_streams_per_client = 2"));
  // Others are unaffected (the admin may watch Alice's job), and health still answers.
  grpc::ClientContext c4;
  auto w4 = open_watch(kOps, c4, &event);
  EXPECT_TRUE(w4.first);
  EXPECT_EQ(HealthCheck(Channel(gateway_->port()), "reel.v1.GenerationService"), 1);
  // Closing one of Alice's streams gives her the slot back.
  c1.TryCancel();
  (void)w1.second->Finish();
  EXPECT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext c5;
        auto w5 = open_watch(kAlice, c5, &event);
        c5.TryCancel();
        (void)w5.second->Finish();
        return w5.first;
      },
      absl::Seconds(10)));
  for (grpc::ClientContext* c : {&c2, &c4}) c->TryCancel();
  (void)w2.second->Finish();
  (void)w4.second->Finish();
}

TEST_F(HardeningTest, OneClientCannotFillTheQueue) {
  StackOptions options;
  options.token_file = TokenFile();
  options.max_queued_per_client = 2;
  StartStack(options, /*with_worker=*/false);
  SubmitOk(Video(), kAlice);
  SubmitOk(Video(), kAlice);
  v1::Job job;
  const grpc::Status third = Submit(*stub_, Video(), &job, kAlice);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.error_message(), HasSubstr("max_queued_per_client = 2"));
  EXPECT_TRUE(Submit(*stub_, Video(), &job, kBob).ok());
}

// --- 9: the cost budget ---

TEST_F(HardeningTest, AJobAboveTheBudgetIsRefusedWithAMessage) {
  StackOptions options;
  options.max_job_cost = int64_t{64} * 64 * 16 * 20;
  StartStack(options);
  v1::GenerateRequest huge = Video();
  huge.set_width(1024);
  huge.set_height(1024);
  huge.set_frames(256);  // the fake model's most; the 4096 frames hit the same check
  huge.set_steps(200);
  v1::Job job;
  grpc::Status s = Submit(*stub_, huge, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("max_job_cost"));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(int64_t{1024} * 1024 * 256 * 200)));
  // Defaults count at the model's values: 0 steps is the fake model's 3, not free.
  v1::GenerateRequest defaults = Video(256);
  defaults.set_width(64);
  defaults.set_height(64);
  defaults.set_steps(0);
  s = Submit(*stub_, defaults, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << "64*64*256*3 > budget";
  EXPECT_EQ(Submit(*stub_, Video(), &job).error_code(), grpc::StatusCode::OK);
}

TEST_F(HardeningTest, AJobNoWorkerHasTheMemoryForIsRefused) {
  FakeRendererOptions renderer;
  renderer.base_memory_bytes = int64_t{100} << 20;
  renderer.memory_bytes_per_pixel = 4096;
  StartStack({}, /*with_worker=*/false, renderer);
  v1::GenerateRequest big = Video();
  big.set_width(512);
  big.set_height(512);  // 100 MiB + 4 KiB × 512² = 1124 MiB
  v1::Job job;
  // No worker states a limit yet: nothing to compare, accepted.
  EXPECT_TRUE(Submit(*stub_, big, &job).ok());
  ASSERT_TRUE(Submit(*stub_, Video(), &job).ok());
  AddWorker(absl::Seconds(5), /*memory_limit_bytes=*/int64_t{512} << 20);
  grpc::Status s = Submit(*stub_, big, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("512x512 render of 'fake-tiny' needs about 1124 MiB"));
  EXPECT_THAT(s.error_message(), HasSubstr("largest limit 512 MiB"));
  big.set_width(256);
  big.set_height(256);  // 356 MiB: fits
  EXPECT_TRUE(Submit(*stub_, big, &job).ok());
  // A bigger worker arrives: the 512² job fits on it.
  AddWorker(absl::Seconds(5), /*memory_limit_bytes=*/int64_t{2} << 30);
  big.set_width(512);
  big.set_height(512);
  EXPECT_TRUE(Submit(*stub_, big, &job).ok());
}

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * sysconf(_SC_PAGESIZE);
}

TEST_F(HardeningTest, WorkerMemoryReturnsAfterALargeJob) {
  FakeRendererOptions renderer;
  renderer.scratch_bytes = int64_t{256} << 20;
  StartStack({}, /*with_worker=*/true, renderer);
  const int64_t idle = ResidentBytes();
  const v1::Job job = SubmitOk(Video());
  ASSERT_EQ(WaitForJob(*stub_, job.id(), Terminal, kJobTimeout).state(), v1::Job::SUCCEEDED);
  ASSERT_TRUE(WaitFor([&] { return workers_[0]->jobs_finished() == 1; }, kJobTimeout));
  // Without handing freed memory back, the job's 256 MiB stay resident (fragmented by the 4 MiB it
  // keeps alive). The rest of a first job (encoder, gRPC buffers) is a few MiB.
  const int64_t after = ResidentBytes();
  EXPECT_LT(after - idle, renderer.scratch_bytes / 4)
      << "idle " << (idle >> 20) << " MiB, after " << (after >> 20) << " MiB";
}

TEST(CgroupMemoryLimitTest, ParsesV1AndV2Files) {
  EXPECT_EQ(worker::ParseCgroupMemoryLimit("max\n"), 0);
  EXPECT_EQ(worker::ParseCgroupMemoryLimit("4294967296\n"), int64_t{4} << 30);
  EXPECT_EQ(worker::ParseCgroupMemoryLimit("9223372036854771712\n"), 0);  // v1 "unlimited"
  EXPECT_EQ(worker::ParseCgroupMemoryLimit("garbage"), 0);
}

// --- 10: bad files at start ---

TEST_F(HardeningTest, GarbageTlsFilesNameTheFileAndTheCause) {
  std::ofstream(dir_.File("cert.pem")) << "not a certificate\n";
  std::ofstream(dir_.File("key.pem")) << "not a key\n";
  StackOptions options;
  options.tls_cert = dir_.File("cert.pem");
  options.tls_key = dir_.File("key.pem");
  auto gateway = StartGateway(dir_.File("data"), options);
  ASSERT_FALSE(gateway.ok());
  EXPECT_THAT(std::string(gateway.status().message()),
              HasSubstr("--tls_cert " + dir_.File("cert.pem") + ": not a PEM certificate"));
  std::string cert, key;
  if (!MakeSelfSignedCert(dir_.path(), &cert, &key)) {
    GTEST_SKIP() << "the openssl CLI could not make a certificate";
  }
  std::ofstream(dir_.File("bad-key.pem")) << "-----BEGIN PRIVATE KEY-----\nAAAA\n";
  options.tls_cert = cert;
  options.tls_key = dir_.File("bad-key.pem");
  gateway = StartGateway(dir_.File("data"), options);
  ASSERT_FALSE(gateway.ok());
  EXPECT_THAT(std::string(gateway.status().message()),
              HasSubstr("--tls_key " + dir_.File("bad-key.pem")));
}

TEST_F(HardeningTest, AnEmptyJobStoreIsRefusedNamingTheFile) {
  std::filesystem::create_directories(dir_.File("data"));
  std::ofstream(dir_.File("data/jobs.db")).flush();
  auto gateway = StartGateway(dir_.File("data"));
  ASSERT_FALSE(gateway.ok());
  EXPECT_THAT(std::string(gateway.status().message()),
              HasSubstr(dir_.File("data/jobs.db") + " exists but is empty"));
}

// --- 11: ListModels ---

TEST_F(HardeningTest, ListModelsDescribesWhatTheWorkersServe) {
  StackOptions options;
  options.max_job_cost = 123456789;
  StartStack(options, /*with_worker=*/false);
  auto list = [&] {
    grpc::ClientContext context;
    service::Prepare(context, "", absl::Seconds(10));
    v1::ListModelsResponse response;
    EXPECT_TRUE(stub_->ListModels(&context, v1::ListModelsRequest(), &response).ok());
    return response;
  };
  EXPECT_EQ(list().models_size(), 0);
  AddWorker();
  AddWorker();
  const v1::ListModelsResponse response = list();
  ASSERT_EQ(response.models_size(), 1);
  const v1::ModelInfo& m = response.models(0);
  const ModelInfo& truth = renderer_->info();
  EXPECT_EQ(m.name(), truth.name);
  EXPECT_EQ(m.default_width(), truth.default_width);
  EXPECT_EQ(m.default_height(), truth.default_height);
  EXPECT_EQ(m.default_frames(), truth.default_frames);
  EXPECT_EQ(m.default_steps(), truth.default_steps);
  EXPECT_EQ(m.block_frames(), truth.temporal_factor);
  EXPECT_EQ(m.max_frames(), truth.max_frames);
  EXPECT_EQ(m.spatial_factor(), truth.spatial_factor);
  EXPECT_EQ(m.attention(), "linear");
  EXPECT_EQ(m.workers(), 2);
  EXPECT_EQ(m.max_side(), 1024);
  EXPECT_EQ(m.max_job_cost(), 123456789);
}

}  // namespace
}  // namespace reel::testing
