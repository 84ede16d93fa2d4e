#pragma once
// Sends one job's progress and previews to the gateway from its own thread, so that the render
// thread never waits on the network: Update() only records the latest state, and reports coalesce
// while an RPC is in flight. The gateway's answer carries cancellation, which the render loop polls
// every step.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "reel/v1/worker.grpc.pb.h"

namespace reel::worker {

class ProgressReporter {
 public:
  ProgressReporter(v1::WorkerService::StubInterface& stub, std::string token, std::string worker_id,
                   std::string job_id, int attempt, absl::Duration rpc_timeout);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void Update(const v1::Progress& progress, double step_seconds);
  void AddPreview(v1::Preview preview);
  // Bytes of the progressive result file that play on their own (after each block); sent with
  // every report from now on.
  void SetPlayableBytes(int64_t bytes);
  // Sends what is pending and waits (at most `timeout`) until it was delivered, then stops the
  // thread.
  void Finish(absl::Duration timeout);

  bool cancel_requested() const { return cancel_.load(); }
  // The gateway no longer honours this lease (FAILED_PRECONDITION): stop and discard the output.
  bool lease_lost() const { return lease_lost_.load(); }
  const v1::Progress& last_progress() const { return progress_; }  // render thread only

 private:
  void Loop();

  v1::WorkerService::StubInterface& stub_;
  const std::string token_, worker_id_, job_id_;
  const int attempt_;
  const absl::Duration rpc_timeout_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;  // something not yet sent
  bool stop_ = false;
  bool in_flight_ = false;
  v1::Progress pending_progress_;
  std::vector<v1::Preview> pending_previews_;
  std::vector<double> pending_steps_;
  int64_t playable_bytes_ = 0;
  v1::Progress progress_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> lease_lost_{false};
  std::thread thread_;
};

}  // namespace reel::worker
