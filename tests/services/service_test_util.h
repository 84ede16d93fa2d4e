#pragma once
// Shared by the service tests: temporary directories, bounded waits, child processes, ffprobe, and
// a gateway + workers stack on 127.0.0.1 with a fake or real renderer.
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reel/v1/generation.grpc.pb.h"
#include "services/gateway/gateway.h"
#include "services/worker/worker.h"
#include "tests/services/temp_dir.h"

namespace reel::testing {

// Polls `done` every 10 ms until it is true or `timeout` passes; returns its last value.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

// Runs a shell command, returns its stdout; *exit_code gets the exit status.
std::string RunCommand(const std::string& command, int* exit_code);

// ffprobe's view of the first video stream of a file: codec_name, width, height, nb_read_frames,
// format_name (empty map when ffprobe fails).
std::map<std::string, std::string> Probe(const std::string& path);

// A child process with stdout/stderr going to a log file; killed (SIGKILL) on destruction if alive.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const std::string& log_path);
  ~ChildProcess();
  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // Waits up to `timeout` for the process to exit; returns its wait status, or -1 on timeout.
  int Wait(absl::Duration timeout);
  bool alive();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

std::string ReadFileOrEmpty(const std::string& path);

// Waits (bounded) until `child` has written its port to `port_file` (--port_file); 0 when it
// exited first or `timeout` passed.
int WaitForPortFile(const std::string& port_file, ChildProcess& child, absl::Duration timeout);

// Options for an in-process test stack.
struct StackOptions {
  std::string token_file;
  std::string worker_listen;  // "": WorkerService on the public port
  int64_t max_queued_per_client = 256;
  int max_streams_per_client = 32;
  int64_t max_job_cost = 0;
  std::string tls_cert, tls_key;
  int64_t max_queued = 1024;
  int metrics_port = -1;
  std::string http_listen;  // e.g. "127.0.0.1:0": the HTTP/JSON API
  absl::Duration heartbeat = absl::Milliseconds(100);
  absl::Duration worker_timeout = absl::Seconds(2);
  int max_attempts = 3;
  std::string store;  // GatewayOptions::store ("": SQLite in the directory)
  absl::Duration store_retry_budget = absl::Seconds(15);
  absl::Duration result_ttl = absl::ZeroDuration();
};

// A gateway on 127.0.0.1:<free port> with its data in `dir`.
absl::StatusOr<std::unique_ptr<gateway::Gateway>> StartGateway(const std::string& dir,
                                                               const StackOptions& options = {});

// A worker connected over loopback TCP to `port`, writing encoded files via services/encoder.
std::unique_ptr<worker::Worker> StartWorker(int port, Renderer& renderer,
                                            const std::string& result_dir,
                                            const std::string& token = "",
                                            const std::string& worker_id = "",
                                            absl::Duration finish_retry_budget = absl::Seconds(5),
                                            int64_t memory_limit_bytes = 0);

// The same on any gRPC target, e.g. "ipv4:127.0.0.1:P1,127.0.0.1:P2" (gRPC's pick_first: the
// first that answers, the next one when it goes away).
std::unique_ptr<worker::Worker> StartWorkerAt(const std::string& target, Renderer& renderer,
                                              const std::string& result_dir,
                                              const std::string& token = "",
                                              const std::string& worker_id = "",
                                              absl::Duration finish_retry_budget = absl::Seconds(5),
                                              int64_t memory_limit_bytes = 0);

// A plaintext client stub for 127.0.0.1:port.
std::unique_ptr<v1::GenerationService::Stub> Client(int port);

// Calls with an optional bearer token and a 10 s deadline.
grpc::Status Submit(v1::GenerationService::Stub& stub, const v1::GenerateRequest& request,
                    v1::Job* job, const std::string& token = "");
grpc::Status GetJob(v1::GenerationService::Stub& stub, const std::string& id, v1::Job* job,
                    const std::string& token = "");

// Waits (bounded) until Get reports a state for which `done` is true; returns the last job seen.
v1::Job WaitForJob(v1::GenerationService::Stub& stub, const std::string& id,
                   const std::function<bool(const v1::Job&)>& done, absl::Duration timeout,
                   const std::string& token = "");
bool Terminal(const v1::Job& job);
// Every byte of a SUCCEEDED job's result through FetchResult (a 20 s deadline); "" when the call
// fails.
std::string FetchResultBytes(v1::GenerationService::Stub& stub, const std::string& id);

// One unary call of `method` (e.g. "/reel.v1.GenerationService/Submit") with `request` as the raw
// message bytes: for requests no generated stub would send. *response gets the raw answer.
grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request, const std::string& token = "",
                          std::string* response = nullptr);

// A plain HTTP/1.0 GET of 127.0.0.1:port/path; "<status> <body>", or "" when no answer came within
// `timeout` (a bound, not a speed: the caller picks one far above any normal answer).
std::string HttpGet(int port, const std::string& path, absl::Duration timeout);

// grpc.health.v1.Health/Check for `service` ("" = the server): the status value (1 = SERVING,
// 2 = NOT_SERVING), or -(gRPC code) when the call failed. The messages are encoded by hand: there
// is no generated health stub in Debian's grpc++.
int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);

// A self-signed certificate for 127.0.0.1/localhost made with the openssl CLI; false if it cannot.
bool MakeSelfSignedCert(const std::string& dir, std::string* cert, std::string* key);

}  // namespace reel::testing
