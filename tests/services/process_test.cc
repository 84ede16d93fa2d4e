// Failures of whole processes, with the real binaries and the real pipeline (a random-weight model
// written by WriteRandomModel): `reel serve` killed with SIGKILL mid-job and restarted on the same
// data directory, and a `reel-worker` killed mid-job while another takes over. Every wait is
// bounded.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/generate/random_model.h"
#include "services/common/client.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kJobTimeout = absl::Seconds(120);

// Long enough on 2 cores that the kill lands mid-render (tens of steps), short enough to finish
// again.
v1::GenerateRequest LongJob() {
  v1::GenerateRequest r;
  r.set_prompt("a red ball bouncing on grass");
  r.set_width(32);
  r.set_height(32);
  r.set_frames(32);
  r.set_steps(12);
  return r;
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_dir_ = dir_.File("model");
    ASSERT_TRUE(WriteRandomModel(model_dir_).ok());
    data_dir_ = dir_.File("data");
  }

  // Starts `reel serve` on a free port and waits until it serves; returns the port (0 on failure).
  int StartServe(const std::vector<std::string>& extra, std::unique_ptr<ChildProcess>* child) {
    const std::string port_file = dir_.File(absl::StrCat("port", ++serves_));
    std::vector<std::string> argv = {
        REEL_BINARY,   "serve",   "--listen",       "127.0.0.1:0", "--data",
        data_dir_,     "--model", model_dir_,       "--threads",   "1",
        "--port_file", port_file, "--heartbeat_ms", "100",         "--worker_timeout_ms",
        "1500"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto spawned = ChildProcess::Spawn(argv, dir_.File(absl::StrCat("serve", serves_, ".log")));
    EXPECT_TRUE(spawned.ok());
    if (!spawned.ok()) return 0;
    *child = *std::move(spawned);
    int port = 0;
    WaitFor(
        [&] {
          return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)), &port) ||
                 !(*child)->alive();
        },
        kStartTimeout);
    EXPECT_GT(port, 0) << (*child)->log();
    return port;
  }

  TempDir dir_;
  std::string model_dir_, data_dir_;
  int serves_ = 0;
};

TEST_F(ProcessTest, KillNineOfTheServerMidJobLosesNothing) {
  std::unique_ptr<ChildProcess> serve;
  int port = StartServe({}, &serve);
  ASSERT_GT(port, 0);
  auto stub = Client(port);
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, LongJob(), &job).ok());
  v1::GenerateRequest keyed = LongJob();
  keyed.set_idempotency_key("survives-restarts");
  keyed.set_frames(8);
  v1::Job queued;
  ASSERT_TRUE(Submit(*stub, keyed, &queued).ok());  // waits behind the first

  const v1::Job running = WaitForJob(
      *stub, job.id(),
      [](const v1::Job& j) { return j.state() == v1::Job::RUNNING && j.progress().step() >= 2; },
      kJobTimeout);
  ASSERT_EQ(running.state(), v1::Job::RUNNING) << serve->log();
  ASSERT_FALSE(Terminal(running));
  serve->Signal(SIGKILL);
  const int status = serve->Wait(absl::Seconds(10));
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  port = StartServe({}, &serve);
  ASSERT_GT(port, 0);
  stub = Client(port);
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, kJobTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message() << "\n" << serve->log();
  EXPECT_EQ(done.attempts(), 2);  // leased once before the kill, once after
  const v1::Job second = WaitForJob(*stub, queued.id(), Terminal, kJobTimeout);
  EXPECT_EQ(second.state(), v1::Job::SUCCEEDED);
  v1::Job again;
  ASSERT_TRUE(Submit(*stub, keyed, &again).ok());
  EXPECT_EQ(again.id(), queued.id());  // the idempotency key outlived the crash too

  const std::string out = dir_.File("after-crash.mp4");
  auto size = service::FetchResultToFile(*stub, "", done.id(), out);
  ASSERT_TRUE(size.ok()) << size.status();
  const auto probe = Probe(out);
  EXPECT_EQ(probe.at("codec_name"), "h264");
  EXPECT_EQ(probe.at("nb_read_frames"), "32");
  EXPECT_EQ(probe.at("width"), "32");

  // SIGTERM is a clean stop.
  serve->Signal(SIGTERM);
  const int term = serve->Wait(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(term) && WEXITSTATUS(term) == 0) << serve->log();
}

// The pid `reel serve --ranks N` reports for `rank` ("rank 1: pid 123"), once it is in the log; 0
// if it never appears.
pid_t RankPid(ChildProcess& serve, int rank) {
  const std::string key = absl::StrCat("rank ", rank, ": pid ");
  int pid = 0;
  WaitFor(
      [&] {
        const std::string log = serve.log();
        const size_t at = log.find(key);
        if (at == std::string::npos) return !serve.alive();
        const size_t end = log.find_first_not_of("0123456789", at + key.size());
        return absl::SimpleAtoi(log.substr(at + key.size(), end - at - key.size()), &pid);
      },
      kStartTimeout);
  return pid;
}

// `reel serve --ranks 2`: the in-process worker is a group of two processes that shards every job;
// SIGKILL of rank 1 mid-job stops the server with the reason within the group timeout, the job
// stays in the durable queue, and a fresh group finishes it.
TEST_F(ProcessTest, ServeWithRanksShardsJobsAndSurvivesAKilledRank) {
  std::unique_ptr<ChildProcess> serve;
  int port = StartServe({"--ranks", "2", "--group_timeout", "5"}, &serve);
  ASSERT_GT(port, 0);
  const pid_t rank1 = RankPid(*serve, 1);
  ASSERT_GT(rank1, 0) << serve->log();
  auto stub = Client(port);
  v1::GenerateRequest quick;
  quick.set_prompt("a red circle moving right");
  quick.set_frames(8);
  quick.set_steps(2);
  v1::Job small;
  ASSERT_TRUE(Submit(*stub, quick, &small).ok());
  const v1::Job small_done = WaitForJob(*stub, small.id(), Terminal, kJobTimeout);
  ASSERT_EQ(small_done.state(), v1::Job::SUCCEEDED) << small_done.error().message() << "\n"
                                                    << serve->log();
  const std::string out = dir_.File("group.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", small_done.id(), out).ok());
  EXPECT_EQ(Probe(out).at("nb_read_frames"), "8");

  v1::Job job;
  ASSERT_TRUE(Submit(*stub, LongJob(), &job).ok());
  const v1::Job running = WaitForJob(
      *stub, job.id(),
      [](const v1::Job& j) { return j.state() == v1::Job::RUNNING && j.progress().step() >= 2; },
      kJobTimeout);
  ASSERT_EQ(running.state(), v1::Job::RUNNING) << serve->log();
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  // Rank 0 notices at its next collective (or keep-alive), within the 5 s group timeout.
  const int status = serve->Wait(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << "\n" << serve->log();
  EXPECT_THAT(serve->log(),
              ::testing::HasSubstr(absl::StrCat("the worker group broke: rank 1 (pid ", rank1,
                                                ") was killed by signal 9")));

  port = StartServe({"--ranks", "2"}, &serve);
  ASSERT_GT(port, 0);
  const pid_t new_rank1 = RankPid(*serve, 1);
  stub = Client(port);
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, kJobTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message() << "\n" << serve->log();
  EXPECT_EQ(done.attempts(), 2);
  serve->Signal(SIGTERM);
  const int term = serve->Wait(absl::Seconds(30));
  EXPECT_TRUE(WIFEXITED(term) && WEXITSTATUS(term) == 0) << serve->log();
  EXPECT_NE(kill(new_rank1, 0), 0) << "rank 1 outlived the server";
}

TEST_F(ProcessTest, ServerModelsListsTheInProcessWorkersModel) {
  std::unique_ptr<ChildProcess> serve;
  const int port = StartServe({}, &serve);
  ASSERT_GT(port, 0);
  std::string out;
  // The in-process worker registers right after the port opens: poll until it is listed.
  WaitFor(
      [&] {
        int rc = 0;
        out = RunCommand(
            absl::StrCat(REEL_BINARY, " server-models --json --server 127.0.0.1:", port, " 2>&1"),
            &rc);
        return rc == 0 && out.find("\"workers\": 1") != std::string::npos;
      },
      kStartTimeout);
  EXPECT_THAT(out, ::testing::HasSubstr("\"workers\": 1")) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("\"attention\": \"linear\""));
  EXPECT_THAT(out, ::testing::HasSubstr("\"block_frames\": 4"));
  int rc = 0;
  const std::string table =
      RunCommand(absl::StrCat(REEL_BINARY, " server-models --server 127.0.0.1:", port), &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_THAT(table, ::testing::HasSubstr("ATTENTION"));
}

TEST_F(ProcessTest, QueuedJobsSurviveKillNineWithoutWorkers) {
  std::unique_ptr<ChildProcess> serve;
  int port = StartServe({"--workers", "0"}, &serve);
  ASSERT_GT(port, 0);
  auto stub = Client(port);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    v1::Job job;
    ASSERT_TRUE(Submit(*stub, LongJob(), &job).ok());
    ids.push_back(job.id());
  }
  serve->Signal(SIGKILL);
  serve->Wait(absl::Seconds(10));
  port = StartServe({"--workers", "0"}, &serve);
  ASSERT_GT(port, 0);
  stub = Client(port);
  for (const std::string& id : ids) {
    v1::Job job;
    ASSERT_TRUE(GetJob(*stub, id, &job).ok());
    EXPECT_EQ(job.state(), v1::Job::QUEUED);
  }
}

TEST_F(ProcessTest, WorkerKilledMidJobIsRequeuedAndFinishedByAnother) {
  StackOptions options;
  options.heartbeat = absl::Milliseconds(100);
  options.worker_timeout = absl::Milliseconds(1500);
  auto gateway = StartGateway(dir_.File("gw"), options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  auto stub = Client((*gateway)->port());
  auto worker = [&](const std::string& id) {
    auto child = ChildProcess::Spawn(
        {REEL_WORKER_BINARY, "--gateway", absl::StrCat("127.0.0.1:", (*gateway)->port()), "--model",
         model_dir_, "--result_dir", (*gateway)->result_dir(), "--worker_id", id, "--threads", "1",
         "--lease_wait_ms", "500"},
        dir_.File(id + ".log"));
    EXPECT_TRUE(child.ok());
    return child.ok() ? *std::move(child) : nullptr;
  };
  auto doomed = worker("doomed");
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, LongJob(), &job).ok());
  const v1::Job running = WaitForJob(
      *stub, job.id(),
      [](const v1::Job& j) { return j.state() == v1::Job::RUNNING && j.progress().step() >= 2; },
      kJobTimeout);
  ASSERT_EQ(running.worker_id(), "doomed") << doomed->log();
  ASSERT_FALSE(Terminal(running));
  doomed->Signal(SIGKILL);
  doomed->Wait(absl::Seconds(10));

  // The gateway notices the silence, re-queues, and the next worker finishes it.
  const v1::Job requeued = WaitForJob(
      *stub, job.id(), [](const v1::Job& j) { return j.state() == v1::Job::QUEUED; },
      absl::Seconds(10));
  EXPECT_EQ(requeued.state(), v1::Job::QUEUED);
  auto rescuer = worker("rescuer");
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, kJobTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message() << "\n" << rescuer->log();
  EXPECT_EQ(done.worker_id(), "rescuer");
  EXPECT_EQ(done.attempts(), 2);
  const std::string out = dir_.File("rescued.mp4");
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", done.id(), out).ok());
  EXPECT_EQ(Probe(out).at("nb_read_frames"), "32");
  // Only the winning attempt's file is in the result directory.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator((*gateway)->result_dir())) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_THAT(files, ::testing::ElementsAre(done.id() + "-2.mp4"));
  rescuer->Signal(SIGTERM);
  EXPECT_NE(rescuer->Wait(absl::Seconds(20)), -1);
  (*gateway)->Shutdown();
}

// The split deployment as separate processes: reel-gateway, reel-encoder, and a reel-worker that
// streams its frames to the encoder service; the client only ever talks to the gateway.
TEST_F(ProcessTest, SplitGatewayWorkerAndEncoderProcesses) {
  const std::string data = dir_.File("split");
  auto gateway = ChildProcess::Spawn({REEL_GATEWAY_BINARY, "--listen", "127.0.0.1:0", "--data",
                                      data, "--port_file", dir_.File("gateway.port")},
                                     dir_.File("gateway.log"));
  auto encoder =
      ChildProcess::Spawn({REEL_ENCODER_BINARY, "--listen=127.0.0.1:0"}, dir_.File("encoder.log"));
  ASSERT_TRUE(gateway.ok() && encoder.ok());
  int gateway_port = 0, encoder_port = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::SimpleAtoi(
            absl::StripAsciiWhitespace(ReadFileOrEmpty(dir_.File("gateway.port"))), &gateway_port);
      },
      kStartTimeout))
      << (*gateway)->log();
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = (*encoder)->log();
        const size_t at = log.find("port ");
        return at != std::string::npos &&
               absl::SimpleAtoi(
                   log.substr(at + 5, log.find_first_not_of("0123456789", at + 5) - at - 5),
                   &encoder_port);
      },
      kStartTimeout))
      << (*encoder)->log();
  auto worker = ChildProcess::Spawn(
      {REEL_WORKER_BINARY, "--gateway", absl::StrCat("127.0.0.1:", gateway_port), "--encoder",
       absl::StrCat("127.0.0.1:", encoder_port), "--model", model_dir_, "--result_dir",
       data + "/results", "--worker_id", "split-worker", "--threads", "1"},
      dir_.File("worker.log"));
  ASSERT_TRUE(worker.ok());
  auto stub = Client(gateway_port);
  v1::GenerateRequest r = LongJob();
  r.set_frames(16);
  r.set_steps(2);
  r.set_output_format("webm");
  v1::Job job;
  ASSERT_TRUE(Submit(*stub, r, &job).ok());
  const v1::Job done = WaitForJob(*stub, job.id(), Terminal, kJobTimeout);
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error().message() << "\n" << (*worker)->log();
  EXPECT_EQ(done.worker_id(), "split-worker");
  EXPECT_EQ(done.result().mime_type(), "video/webm");
  const std::string out = dir_.File("split.webm");
  ASSERT_TRUE(service::FetchResultToFile(*stub, "", done.id(), out).ok());
  const auto probe = Probe(out);
  EXPECT_EQ(probe.at("codec_name"), "vp9");
  EXPECT_EQ(probe.at("nb_read_frames"), "16");
  for (ChildProcess* p : {worker->get(), encoder->get(), gateway->get()}) {
    p->Signal(SIGTERM);
    const int status = p->Wait(absl::Seconds(20));
    EXPECT_TRUE(WIFEXITED(status)) << p->log();
  }
}

}  // namespace
}  // namespace reel::testing
