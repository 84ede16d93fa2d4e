#pragma once
// A worker: one loaded model (a Renderer), a connection to the gateway's WorkerService, and a loop
// that leases a job, renders it through the encoder into the result directory, and reports back.
// Progress goes out from a reporter thread, liveness from a heartbeat thread; cancellation (from
// either answer) reaches the renderer through its cancel flag, which it checks every denoising
// step.
//
// The worker depends only on the engine's interface (pipeline/generate/renderer.h) and on a
// SinkFactory for the output file, so tests run it with a small test renderer and any sink.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "pipeline/generate/renderer.h"
#include "reel/v1/worker.grpc.pb.h"

namespace reel::worker {

// The sink that writes one result file at `path`, with the container named by the VideoSpec given
// to Open() (production: services/encoder's NewFileEncoderSink).
using SinkFactory = std::function<std::unique_ptr<FrameSink>(const std::string& path)>;

struct WorkerOptions {
  std::string worker_id;   // "" lets the gateway choose
  std::string result_dir;  // shared with the gateway
  std::string token;       // bearer token for the gateway; "" for none
  absl::Duration lease_wait = absl::Seconds(5);
  absl::Duration rpc_timeout = absl::Seconds(10);
  // How long to keep retrying FinishJob while the gateway is unreachable (e.g. restarting).
  absl::Duration finish_retry_budget = absl::Seconds(60);
  int preview_max_side = 128;
  // The memory this worker may use (0: unknown), sent at registration so that the gateway refuses
  // jobs no worker has room for. reel-worker detects it from its cgroup (memory_limit.h).
  int64_t memory_limit_bytes = 0;
};

class Worker {
 public:
  Worker(std::shared_ptr<grpc::Channel> channel, Renderer& renderer, SinkFactory sinks,
         WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the lease loop and the heartbeat thread (registration happens there, retried until
  // Stop()).
  void Start();
  // Gives a running job back to the gateway (re-queued without penalty), stops the threads.
  // Idempotent.
  void Stop();

  // Waits until the gateway accepted the registration.
  bool WaitUntilRegistered(absl::Duration timeout);
  std::string worker_id() const;
  int64_t jobs_finished() const { return jobs_finished_.load(); }

 private:
  struct Current {
    std::string job_id;
    int attempt = 0;
  };
  void LeaseLoop();
  void HeartbeatLoop();
  absl::Status Register();
  void RunJob(const v1::LeaseJobResponse& lease);
  // Sends FinishJob, retrying while the gateway is unreachable. Returns the last status.
  absl::Status SendFinish(v1::FinishJobRequest request);
  void SleepFor(absl::Duration d);  // wakes early on Stop()

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  Renderer& renderer_;
  SinkFactory sinks_;
  WorkerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  // The renderer answered ABORTED (it can take no more jobs, e.g. a worker group lost a rank): no
  // more leases, or each would come straight back and count an attempt until the process stops.
  bool retired_ = false;
  bool registered_ = false;
  std::string worker_id_;
  absl::Duration heartbeat_interval_ = absl::Seconds(1);
  Current current_;                  // empty job_id: idle
  std::atomic<bool> cancel_{false};  // the current job's cancel flag, read by the renderer
  grpc::ClientContext* lease_context_ = nullptr;  // the in-flight LeaseJob, to cancel on Stop()
  std::atomic<int64_t> jobs_finished_{0};
  std::thread lease_thread_;
  std::thread heartbeat_thread_;
};

}  // namespace reel::worker
