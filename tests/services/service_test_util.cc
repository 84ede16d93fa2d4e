#include "tests/services/service_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "services/common/client.h"
#include "services/encoder/file_sink.h"

namespace reel::testing {

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (done()) return true;
    if (absl::Now() > deadline) return done();
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string RunCommand(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::map<std::string, std::string> Probe(const std::string& path) {
  int rc = 0;
  const std::string out = RunCommand(
      absl::StrCat(
          "timeout 30 ffprobe -v error -count_frames -select_streams v:0 -show_entries "
          "stream=codec_name,width,height,nb_read_frames:format=format_name -of default=nw=1 '",
          path, "' 2>/dev/null"),
      &rc);
  std::map<std::string, std::string> fields;
  if (rc != 0) return fields;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq != absl::string_view::npos)
      fields[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return fields;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> cargs;
  for (const std::string& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
  cargs.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // The test blocks no signals, but gtest or a parent might have: start the child clean.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  child->pid_ = pid;
  child->log_path_ = log_path;
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal);
}

int ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

bool ChildProcess::alive() {
  if (reaped_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

std::string ChildProcess::log() const { return ReadFileOrEmpty(log_path_); }

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int WaitForPortFile(const std::string& port_file, ChildProcess& child, absl::Duration timeout) {
  int port = 0;
  WaitFor(
      [&] {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)), &port) ||
               !child.alive();
      },
      timeout);
  return port;
}

absl::StatusOr<std::unique_ptr<gateway::Gateway>> StartGateway(const std::string& dir,
                                                               const StackOptions& options) {
  gateway::GatewayOptions g;
  g.listen = "127.0.0.1:0";
  g.data_dir = dir;
  g.token_file = options.token_file;
  g.tls_cert_file = options.tls_cert;
  g.tls_key_file = options.tls_key;
  g.metrics_port = options.metrics_port;
  g.http_listen = options.http_listen;
  g.scheduler.max_queued_jobs = options.max_queued;
  g.scheduler.heartbeat_interval = options.heartbeat;
  g.scheduler.worker_timeout = options.worker_timeout;
  g.scheduler.max_attempts = options.max_attempts;
  g.scheduler.max_queued_per_client = options.max_queued_per_client;
  g.worker_listen = options.worker_listen;
  g.generation.max_streams_per_client = options.max_streams_per_client;
  g.generation.max_job_cost = options.max_job_cost;
  g.store = options.store;
  g.store_retry_budget = options.store_retry_budget;
  g.scheduler.result_ttl = options.result_ttl;
  return gateway::Gateway::Start(g);
}

std::unique_ptr<worker::Worker> StartWorker(int port, Renderer& renderer,
                                            const std::string& result_dir, const std::string& token,
                                            const std::string& worker_id,
                                            absl::Duration finish_retry_budget,
                                            int64_t memory_limit_bytes) {
  return StartWorkerAt(absl::StrCat("127.0.0.1:", port), renderer, result_dir, token, worker_id,
                       finish_retry_budget, memory_limit_bytes);
}

std::unique_ptr<worker::Worker> StartWorkerAt(const std::string& target, Renderer& renderer,
                                              const std::string& result_dir,
                                              const std::string& token,
                                              const std::string& worker_id,
                                              absl::Duration finish_retry_budget,
                                              int64_t memory_limit_bytes) {
  worker::WorkerOptions options;
  options.result_dir = result_dir;
  options.token = token;
  options.worker_id = worker_id;
  options.lease_wait = absl::Milliseconds(500);
  options.rpc_timeout = absl::Seconds(5);
  options.finish_retry_budget = finish_retry_budget;
  options.memory_limit_bytes = memory_limit_bytes;
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto w = std::make_unique<worker::Worker>(
      channel, renderer,
      [](const std::string& path) { return NewFileEncoderSink(path, {.progressive = true}); },
      options);
  w->Start();
  return w;
}

std::unique_ptr<v1::GenerationService::Stub> Client(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return v1::GenerationService::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args));
}

grpc::Status Submit(v1::GenerationService::Stub& stub, const v1::GenerateRequest& request,
                    v1::Job* job, const std::string& token) {
  grpc::ClientContext context;
  service::Prepare(context, token, absl::Seconds(10));
  return stub.Submit(&context, request, job);
}

grpc::Status GetJob(v1::GenerationService::Stub& stub, const std::string& id, v1::Job* job,
                    const std::string& token) {
  grpc::ClientContext context;
  service::Prepare(context, token, absl::Seconds(10));
  v1::GetJobRequest request;
  request.set_id(id);
  return stub.Get(&context, request, job);
}

bool Terminal(const v1::Job& job) {
  return job.state() == v1::Job::SUCCEEDED || job.state() == v1::Job::FAILED ||
         job.state() == v1::Job::CANCELLED;
}

std::string FetchResultBytes(v1::GenerationService::Stub& stub, const std::string& id) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::FetchResultRequest request;
  request.set_id(id);
  auto reader = stub.FetchResult(&context, request);
  v1::ResultChunk chunk;
  std::string bytes;
  while (reader->Read(&chunk)) bytes += chunk.data();
  return reader->Finish().ok() ? bytes : "";
}

v1::Job WaitForJob(v1::GenerationService::Stub& stub, const std::string& id,
                   const std::function<bool(const v1::Job&)>& done, absl::Duration timeout,
                   const std::string& token) {
  v1::Job job;
  WaitFor(
      [&] {
        v1::Job latest;
        if (GetJob(stub, id, &latest, token).ok()) job = latest;
        return done(job);
      },
      timeout);
  return job;
}

grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request, const std::string& token,
                          std::string* response) {
  grpc::Slice slice(request);
  grpc::ByteBuffer send(&slice, 1), received;
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  service::Prepare(context, token, absl::Seconds(10));
  grpc::Status status;
  bool done = false;
  std::mutex mu;
  std::condition_variable cv;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &send, &received, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (response != nullptr && status.ok()) {
    std::vector<grpc::Slice> slices;
    (void)received.Dump(&slices);
    response->clear();
    for (const grpc::Slice& s : slices)
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  // HealthCheckRequest { string service = 1; }  →  HealthCheckResponse { ServingStatus status = 1;
  // }
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));  // services here are < 128 bytes
    request += service;
  }
  std::string bytes;
  const grpc::Status status =
      RawUnaryCall(channel, "/grpc.health.v1.Health/Check", request, "", &bytes);
  if (!status.ok()) return -static_cast<int>(status.error_code());
  if (bytes.empty()) return 0;  // status UNKNOWN (0) is the default, encoded as nothing
  if (bytes.size() >= 2 && bytes[0] == 0x08) return static_cast<unsigned char>(bytes[1]);
  return -1000;
}

std::string HttpGet(int port, const std::string& path, absl::Duration timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  const int64_t ms = absl::ToInt64Milliseconds(timeout);
  const timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string raw;
  const absl::Time deadline = absl::Now() + timeout;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while (absl::Now() < deadline && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        raw.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  // "HTTP/1.x 200 OK\r\n...\r\n\r\nbody" → "200 body"
  const size_t space = raw.find(' ');
  const size_t body = raw.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos) return "";
  return absl::StrCat(raw.substr(space + 1, 3), " ", raw.substr(body + 4));
}

bool MakeSelfSignedCert(const std::string& dir, std::string* cert, std::string* key) {
  *cert = dir + "/cert.pem";
  *key = dir + "/key.pem";
  int rc = 0;
  RunCommand(absl::StrCat(
                 "timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                 "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '",
                 *key, "' -out '", *cert, "' >/dev/null 2>&1"),
             &rc);
  return rc == 0 && std::filesystem::exists(*cert) && std::filesystem::exists(*key);
}

}  // namespace reel::testing
