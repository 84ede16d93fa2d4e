// The public API end to end on 127.0.0.1: a real gateway (SQLite file in a temp dir), real workers
// over TCP with a deterministic fake renderer and the real encoder, clients through generated
// stubs. Results are checked with ffprobe (an independent decoder) and against the renderer's known
// pixels.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "opencv2/imgcodecs.hpp"
#include "services/common/client.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/invalid_requests.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kJobTimeout = absl::Seconds(30);

class GatewayTest : public ::testing::Test {
 protected:
  void StartStack(const StackOptions& options = {}, bool with_worker = true,
                  FakeRendererOptions renderer = {}) {
    auto gateway = StartGateway(dir_.path(), options);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
    stub_ = Client(gateway_->port());
    renderer_ = std::make_unique<FakeRenderer>(renderer);
    if (with_worker) AddWorker();
  }
  void AddWorker(const std::string& token = "") {
    workers_.push_back(StartWorker(gateway_->port(), *renderer_, gateway_->result_dir(), token));
    ASSERT_TRUE(workers_.back()->WaitUntilRegistered(absl::Seconds(10)));
  }
  void TearDown() override {
    for (auto& w : workers_) w->Stop();
    if (gateway_) gateway_->Shutdown();
  }
  v1::Job SubmitOk(const v1::GenerateRequest& request) {
    v1::Job job;
    const grpc::Status s = Submit(*stub_, request, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }
  v1::Job WaitTerminal(const std::string& id) {
    return WaitForJob(*stub_, id, Terminal, kJobTimeout);
  }

  TempDir dir_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<v1::GenerationService::Stub> stub_;
  std::unique_ptr<FakeRenderer> renderer_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
};

v1::GenerateRequest Video(int frames = 16) {
  v1::GenerateRequest r = ValidRequest();
  r.set_frames(frames);
  r.set_width(64);
  r.set_height(48);
  r.set_steps(3);
  return r;
}

TEST_F(GatewayTest, SubmitWatchFetchDecodesToTheRenderedVideo) {
  StartStack();
  v1::Job job = SubmitOk(Video(16));
  EXPECT_EQ(job.state(), v1::Job::QUEUED);
  EXPECT_THAT(job.id(), ::testing::StartsWith("j"));
  EXPECT_TRUE(job.request().has_seed());  // the server chose one and recorded it

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kJobTimeout));
  v1::WatchJobRequest watch;
  watch.set_id(job.id());
  watch.set_previews(true);
  auto reader = stub_->Watch(&context, watch);
  v1::JobEvent event;
  std::vector<v1::JobEvent> events;
  while (reader->Read(&event)) events.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(events.size(), 3u);
  EXPECT_TRUE(events.front().has_snapshot());
  ASSERT_TRUE(events.back().has_final());
  const v1::Job& final_job = events.back().final();
  ASSERT_EQ(final_job.state(), v1::Job::SUCCEEDED) << final_job.error().message();
  double last_fraction = -1;
  int previews = 0, progress_events = 0;
  for (const v1::JobEvent& e : events) {
    if (e.has_progress() && e.progress().state() == v1::Job::RUNNING) {
      ++progress_events;
      EXPECT_GE(e.progress().progress().fraction(), last_fraction);  // never goes backwards
      last_fraction = e.progress().progress().fraction();
    }
    if (e.has_preview()) {
      ++previews;
      const std::string& png = e.preview().png();
      const cv::Mat img =
          cv::imdecode(std::vector<uint8_t>(png.begin(), png.end()), cv::IMREAD_COLOR);
      ASSERT_FALSE(img.empty());
      EXPECT_EQ(img.cols, e.preview().width());
      EXPECT_LE(std::max(img.cols, img.rows), 128);
      EXPECT_EQ(e.preview().block(), previews);
    }
  }
  EXPECT_GE(progress_events, 1);
  EXPECT_EQ(previews, 4);  // 16 frames in blocks of 4
  EXPECT_EQ(final_job.result().mime_type(), "video/mp4");
  EXPECT_EQ(final_job.result().frames(), 16);
  EXPECT_EQ(final_job.request().width(), 64);
  EXPECT_EQ(final_job.request().steps(), 3);
  EXPECT_DOUBLE_EQ(final_job.progress().fraction(), 1.0);

  const std::string out = dir_.File("out.mp4");
  auto size = service::FetchResultToFile(*stub_, "", job.id(), out, {.chunk_bytes = 1000});
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, final_job.result().size_bytes());
  EXPECT_EQ(static_cast<int64_t>(std::filesystem::file_size(out)), *size);
  const auto probe = Probe(out);
  EXPECT_EQ(probe.at("codec_name"), "h264");
  EXPECT_EQ(probe.at("width"), "64");
  EXPECT_EQ(probe.at("height"), "48");
  EXPECT_EQ(probe.at("nb_read_frames"), "16");
  EXPECT_THAT(probe.at("format_name"), HasSubstr("mp4"));
}

TEST_F(GatewayTest, FetchResumesFromAnOffset) {
  StartStack();
  const v1::Job job = WaitTerminal(SubmitOk(Video(8)).id());
  ASSERT_EQ(job.state(), v1::Job::SUCCEEDED);
  const std::string whole = dir_.File("whole.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub_, "", job.id(), whole).ok());
  const std::string bytes = ReadFileOrEmpty(whole);
  ASSERT_GT(bytes.size(), 100u);

  grpc::ClientContext context;
  v1::FetchResultRequest request;
  request.set_id(job.id());
  request.set_offset(100);
  request.set_chunk_bytes(64);
  auto reader = stub_->FetchResult(&context, request);
  v1::ResultChunk chunk;
  std::string tail;
  int64_t expected_offset = 100;
  bool last = false;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), expected_offset);
    EXPECT_LE(chunk.data().size(), 64u);
    EXPECT_EQ(chunk.total_bytes(), static_cast<int64_t>(bytes.size()));
    expected_offset += static_cast<int64_t>(chunk.data().size());
    tail += chunk.data();
    last = chunk.last();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(last);
  EXPECT_EQ(tail, bytes.substr(100));

  grpc::ClientContext past;
  request.set_offset(static_cast<int64_t>(bytes.size()) + 1);
  auto bad = stub_->FetchResult(&past, request);
  while (bad->Read(&chunk)) {
  }
  EXPECT_EQ(bad->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

TEST_F(GatewayTest, ImageJobGivesAPngWithTheRenderedPixels) {
  StartStack();
  v1::GenerateRequest r = ValidRequest();
  r.set_kind(v1::GenerateRequest::IMAGE);
  r.set_width(32);
  r.set_height(32);
  const v1::Job job = WaitTerminal(SubmitOk(r).id());
  ASSERT_EQ(job.state(), v1::Job::SUCCEEDED) << job.error().message();
  EXPECT_EQ(job.result().mime_type(), "image/png");
  const std::string out = dir_.File("out.png");
  ASSERT_TRUE(service::FetchResultToFile(*stub_, "", job.id(), out).ok());
  const cv::Mat img = cv::imread(out, cv::IMREAD_COLOR);
  ASSERT_EQ(img.cols, 32);
  ASSERT_EQ(img.rows, 32);
  for (int y = 0; y < 32; y += 5) {
    for (int x = 0; x < 32; x += 5) {
      const cv::Vec3b bgr = img.at<cv::Vec3b>(y, x);
      EXPECT_EQ(bgr[2], FakeRenderer::Expected(0, x, y, 0, 32))
          << x << "," << y;  // PNG is lossless
      EXPECT_EQ(bgr[0], FakeRenderer::Expected(0, x, y, 2, 32)) << x << "," << y;
    }
  }
}

TEST_F(GatewayTest, CancelStopsARunningJobWithinAFewSteps) {
  FakeRendererOptions slow;
  slow.step_delay = absl::Milliseconds(50);
  StartStack({}, true, slow);
  v1::GenerateRequest r = Video(64);
  r.set_steps(50);  // 16 blocks × 50 steps × 50 ms: far longer than the test
  const v1::Job job = SubmitOk(r);
  const v1::Job running = WaitForJob(
      *stub_, job.id(), [](const v1::Job& j) { return j.progress().step() >= 2; }, kJobTimeout);
  ASSERT_EQ(running.state(), v1::Job::RUNNING);
  const int steps_before = renderer_->steps_done();
  grpc::ClientContext context;
  v1::CancelJobRequest cancel;
  cancel.set_id(job.id());
  v1::Job after;
  ASSERT_TRUE(stub_->Cancel(&context, cancel, &after).ok());
  EXPECT_TRUE(after.cancel_requested());
  const absl::Time asked = absl::Now();
  const v1::Job done = WaitTerminal(job.id());
  EXPECT_EQ(done.state(), v1::Job::CANCELLED);
  EXPECT_LT(absl::Now() - asked, absl::Seconds(2));
  // The progress report that carries the answer lags one step behind; the flag then stops the next.
  EXPECT_LE(renderer_->steps_done() - steps_before, 4);
  // No partial output is left behind.
  for (const auto& entry : std::filesystem::directory_iterator(gateway_->result_dir())) {
    ADD_FAILURE() << "left over: " << entry.path();
  }
  grpc::ClientContext fetch_context;
  v1::FetchResultRequest fetch;
  fetch.set_id(job.id());
  auto reader = stub_->FetchResult(&fetch_context, fetch);
  v1::ResultChunk chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GatewayTest, CancelOfAQueuedJobIsImmediateAndOfAFinishedJobFails) {
  StartStack({}, /*with_worker=*/false);
  const v1::Job job = SubmitOk(Video());
  grpc::ClientContext c1;
  v1::CancelJobRequest cancel;
  cancel.set_id(job.id());
  v1::Job after;
  ASSERT_TRUE(stub_->Cancel(&c1, cancel, &after).ok());
  EXPECT_EQ(after.state(), v1::Job::CANCELLED);
  grpc::ClientContext c2;
  EXPECT_TRUE(stub_->Cancel(&c2, cancel, &after).ok());  // idempotent

  AddWorker();
  const v1::Job done = WaitTerminal(SubmitOk(Video(4)).id());
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED);
  grpc::ClientContext c3;
  cancel.set_id(done.id());
  EXPECT_EQ(stub_->Cancel(&c3, cancel, &after).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GatewayTest, IdempotentSubmitReturnsTheSameJob) {
  StartStack({}, /*with_worker=*/false);
  v1::GenerateRequest r = Video();
  r.set_idempotency_key("retry-me-123");
  const v1::Job first = SubmitOk(r);
  const v1::Job second = SubmitOk(r);
  EXPECT_EQ(first.id(), second.id());
  EXPECT_EQ(first.request().seed(), second.request().seed());
  r.set_prompt("something else");
  v1::Job third;
  const grpc::Status s = Submit(*stub_, r, &third);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr(first.id()));
}

TEST_F(GatewayTest, FullQueueIsResourceExhausted) {
  StackOptions options;
  options.max_queued = 2;
  StartStack(options, /*with_worker=*/false);
  SubmitOk(Video());
  SubmitOk(Video());
  v1::Job job;
  const grpc::Status s = Submit(*stub_, Video(), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("queue is full"));
}

TEST_F(GatewayTest, EveryInvalidRequestIsInvalidArgumentNamingTheField) {
  StartStack({}, /*with_worker=*/false);
  for (const InvalidCase& c : InvalidCases()) {
    v1::GenerateRequest r = ValidRequest();
    c.mutate(r);
    v1::Job job;
    const grpc::Status s = Submit(*stub_, r, &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_THAT(s.error_message(), ::testing::StartsWith(c.field + ":")) << c.name;
  }
  grpc::ClientContext context;
  v1::ListJobsRequest list;
  list.set_page_size(-1);
  v1::ListJobsResponse page;
  EXPECT_EQ(stub_->List(&context, list, &page).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext token_context;
  list.set_page_size(1);
  list.set_page_token("garbage");
  EXPECT_EQ(stub_->List(&token_context, list, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::Job job;
  EXPECT_EQ(GetJob(*stub_, "", &job).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetJob(*stub_, "../../etc", &job).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GatewayTest, ModelRulesComeFromTheRegisteredWorker) {
  StartStack();  // the fake model: blocks of 4 frames, sides multiple of 8
  v1::GenerateRequest r = Video(6);
  v1::Job job;
  grpc::Status s = Submit(*stub_, r, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("try 8"));
  r = Video();
  r.set_model("other-model");
  s = Submit(*stub_, r, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("available: fake-tiny"));
  r.set_model("fake-tiny");
  EXPECT_EQ(WaitTerminal(SubmitOk(r).id()).state(), v1::Job::SUCCEEDED);
}

TEST_F(GatewayTest, UnknownJobIsNotFoundAndUnfinishedFetchIsFailedPrecondition) {
  StartStack({}, /*with_worker=*/false);
  v1::Job job;
  EXPECT_EQ(GetJob(*stub_, "j0000000000000000", &job).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext watch_context;
  v1::WatchJobRequest watch;
  watch.set_id("j0000000000000000");
  auto watcher = stub_->Watch(&watch_context, watch);
  v1::JobEvent event;
  EXPECT_FALSE(watcher->Read(&event));
  EXPECT_EQ(watcher->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  const v1::Job queued = SubmitOk(Video());
  grpc::ClientContext context;
  v1::FetchResultRequest fetch;
  fetch.set_id(queued.id());
  auto reader = stub_->FetchResult(&context, fetch);
  v1::ResultChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("QUEUED"));
}

TEST_F(GatewayTest, HigherPriorityRunsFirst) {
  StartStack({}, /*with_worker=*/false);
  v1::GenerateRequest low = Video(4), high = Video(4);
  low.set_priority(-3);
  high.set_priority(7);
  const v1::Job a = SubmitOk(low);
  const v1::Job b = SubmitOk(high);
  AddWorker();
  const v1::Job done_a = WaitTerminal(a.id());
  const v1::Job done_b = WaitTerminal(b.id());
  ASSERT_EQ(done_a.state(), v1::Job::SUCCEEDED);
  ASSERT_EQ(done_b.state(), v1::Job::SUCCEEDED);
  EXPECT_LE(done_b.end_time().seconds() * 1000 + done_b.end_time().nanos() / 1000000,
            done_a.start_time().seconds() * 1000 + done_a.start_time().nanos() / 1000000);
}

TEST_F(GatewayTest, ListPagesThroughJobsNewestFirst) {
  StartStack({}, /*with_worker=*/false);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.insert(ids.begin(), SubmitOk(Video()).id());
  std::vector<std::string> listed;
  v1::ListJobsRequest request;
  request.set_page_size(2);
  for (int pages = 0; pages < 10; ++pages) {
    grpc::ClientContext context;
    v1::ListJobsResponse page;
    ASSERT_TRUE(stub_->List(&context, request, &page).ok());
    EXPECT_LE(page.jobs_size(), 2);
    for (const v1::Job& j : page.jobs()) listed.push_back(j.id());
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(listed, ids);
  grpc::ClientContext context;
  v1::ListJobsRequest running;
  running.add_states(v1::Job::RUNNING);
  v1::ListJobsResponse none;
  ASSERT_TRUE(stub_->List(&context, running, &none).ok());
  EXPECT_EQ(none.jobs_size(), 0);
}

TEST_F(GatewayTest, HealthServiceReportsServing) {
  StartStack({}, /*with_worker=*/false);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                                     grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthCheck(channel, ""), 1);
  EXPECT_EQ(HealthCheck(channel, "reel.v1.GenerationService"), 1);
  EXPECT_EQ(HealthCheck(channel, "no.such.Service"),
            -static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

TEST_F(GatewayTest, MetricsAndHealthzOverHttp) {
  StackOptions options;
  options.metrics_port = 0;
  StartStack(options);
  ASSERT_EQ(WaitTerminal(SubmitOk(Video(8)).id()).state(), v1::Job::SUCCEEDED);
  SubmitOk(Video(8));  // may still be queued or running: only the finished one is asserted
  int rc = 0;
  const std::string metrics = RunCommand(
      absl::StrCat("curl -s -m 5 http://127.0.0.1:", gateway_->metrics_port(),
                   "/metrics 2>/dev/null || "
                   "/usr/bin/python3 -c \"import urllib.request;print(urllib.request.urlopen("
                   "'http://127.0.0.1:",
                   gateway_->metrics_port(), "/metrics',timeout=5).read().decode())\""),
      &rc);
  EXPECT_THAT(metrics, HasSubstr("# TYPE reel_jobs gauge"));
  EXPECT_THAT(metrics, HasSubstr("reel_jobs_finished_total{state=\"SUCCEEDED\"}"));
  EXPECT_THAT(metrics, HasSubstr("reel_jobs_submitted_total 2"));
  EXPECT_THAT(metrics, HasSubstr("reel_step_seconds_count"));
  EXPECT_THAT(metrics, HasSubstr("reel_queue_depth"));
  EXPECT_THAT(metrics, HasSubstr("reel_encoder_frames_total"));
  EXPECT_THAT(metrics, HasSubstr("reel_queue_wait_seconds_bucket{le=\"+Inf\"}"));
  const std::string healthz = RunCommand(
      absl::StrCat("/usr/bin/python3 -c \"import urllib.request;r=urllib.request.urlopen("
                   "'http://127.0.0.1:",
                   gateway_->metrics_port(),
                   "/healthz',timeout=5);print(r.status, r.read().decode())\""),
      &rc);
  EXPECT_THAT(healthz, HasSubstr("200 ok"));
}

TEST_F(GatewayTest, BearerTokensWhenATokenFileIsGiven) {
  const std::string token = "s3cret-token-for-tests-0001";
  const std::string worker_token = "s3cret-worker-token-0001";
  const std::string file = dir_.File("tokens");
  std::ofstream(file) << "# clients\n" << token << "\n" << worker_token << " worker\n";
  StackOptions options;
  options.token_file = file;
  StartStack(options, /*with_worker=*/false);
  v1::Job job;
  grpc::Status s = Submit(*stub_, Video(4), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  s = Submit(*stub_, Video(4), &job, "wrong-token-wrong-token");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Submit(*stub_, Video(4), &job, token).ok());
  EXPECT_EQ(GetJob(*stub_, job.id(), &job).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Health stays open for probes.
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                                     grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthCheck(channel, ""), 1);
  // A worker without a token, or with a client's, cannot register; with a worker token it runs
  // the job.
  for (const std::string& t : {std::string(), token}) {
    auto intruder =
        StartWorker(gateway_->port(), *renderer_, gateway_->result_dir(), t, "intruder");
    EXPECT_FALSE(intruder->WaitUntilRegistered(absl::Milliseconds(500)));
    intruder->Stop();
  }
  AddWorker(worker_token);
  EXPECT_EQ(WaitForJob(*stub_, job.id(), Terminal, kJobTimeout, token).state(), v1::Job::SUCCEEDED);
}

TEST_F(GatewayTest, TlsWithAClientThatTrustsTheCertificate) {
  std::string cert, key;
  if (!MakeSelfSignedCert(dir_.path(), &cert, &key))
    GTEST_SKIP() << "the openssl CLI could not make a certificate";
  StackOptions options;
  options.tls_cert = cert;
  options.tls_key = key;
  StartStack(options, /*with_worker=*/false);
  service::ConnectOptions connect;
  connect.server = absl::StrCat("127.0.0.1:", gateway_->port());
  connect.tls_ca_file = cert;
  auto channel = service::Dial(connect);
  ASSERT_TRUE(channel.ok());
  auto tls_stub = v1::GenerationService::NewStub(*channel);
  v1::Job job;
  const grpc::Status s = Submit(*tls_stub, Video(4), &job);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(job.state(), v1::Job::QUEUED);
  // A plaintext client cannot talk to the TLS port.
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
  v1::GetJobRequest get;
  get.set_id(job.id());
  EXPECT_FALSE(stub_->Get(&context, get, &job).ok());
}

}  // namespace
}  // namespace reel::testing
