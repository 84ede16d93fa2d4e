#pragma once
// A worker group: N ranks that shard every job (sequence and/or CFG parallel) register with the
// gateway as one worker. Rank 0 runs the ordinary Worker (lease, progress, cancel, finish) over a
// GroupLeaderRenderer, which broadcasts each request to the other ranks before rendering its share
// and agrees with them on cancellation at every denoising step; ranks ≥ 1 run FollowGroup. While
// idle, rank 0 sends a keep-alive often enough that no follower's call reaches the group timeout.
// Any rank dying turns into an error on the others within the timeout: the leader's Render fails
// (the job goes back to the gateway) and the group is broken for good (the process should exit
// and be restarted, which re-forms the group).
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pipeline/generate/renderer.h"
#include "pipeline/parallel/communicator.h"

namespace reel::worker {

class GroupLeaderRenderer final : public Renderer {
 public:
  // `inner` renders with the group's ParallelContext (LoadRenderer's RendererOptions::parallel);
  // `group` holds every rank (rank 0 is this one). Neither is owned.
  // on_broken: called once when the group breaks (e.g. to stop the process so that a supervisor
  // restarts the ranks); Render then returns ABORTED, which the Worker turns into releasing the
  // job to the queue.
  GroupLeaderRenderer(Renderer& inner, Communicator& group, absl::Duration keepalive_every,
                      std::function<void()> on_broken = nullptr);
  ~GroupLeaderRenderer() override;  // Shutdown()
  GroupLeaderRenderer(const GroupLeaderRenderer&) = delete;
  GroupLeaderRenderer& operator=(const GroupLeaderRenderer&) = delete;

  const ModelInfo& info() const override { return inner_.info(); }
  absl::StatusOr<RenderRequest> Resolve(const RenderRequest& request) const override {
    return inner_.Resolve(request);
  }
  absl::Status Render(const RenderRequest& request, FrameSink& sink,
                      const std::function<void(const RenderProgress&)>& progress,
                      const std::atomic<bool>* cancel) override;
  // Tells the followers to return OK and stops the keep-alive; later Renders fail. Idempotent.
  absl::Status Shutdown();

 private:
  absl::Status Send(int kind, const std::string& payload);  // mu_ held
  void KeepAlive();

  Renderer& inner_;
  Communicator& group_;
  const absl::Duration keepalive_every_;
  std::mutex mu_;  // one user of the communicator at a time: a render or a keep-alive
  std::condition_variable wake_;
  bool stopping_ = false;
  absl::Status broken_;  // the first communication error; the group is unusable after it
  std::function<void()> on_broken_;
  absl::Status Broken(const absl::Status& error);  // records it, tells on_broken_, → ABORTED
  std::thread keepalive_;
};

// Rank ≥ 1: renders every request rank 0 broadcasts (the frames go nowhere: rank 0 writes them)
// until rank 0 shuts the group down (OK) or the group breaks (the error, naming what failed).
absl::Status FollowGroup(Renderer& inner, Communicator& group);

// The request's fields, serialized for the broadcast (exposed for tests).
std::string SerializeRequest(const RenderRequest& request);
absl::StatusOr<RenderRequest> DeserializeRequest(const std::string& bytes);

}  // namespace reel::worker
