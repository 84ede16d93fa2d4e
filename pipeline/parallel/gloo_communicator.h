#pragma once
// Communicator over Gloo (Debian's libgloo, TCP transport): the CPU path of distributed execution,
// testable on one host over loopback. Every call carries the group's timeout as its deadline, so a
// dead or hung peer turns into an error status on every other rank (Gloo throws; the exception
// stops here and becomes DEADLINE_EXCEEDED or UNAVAILABLE naming the operation and the rank).
// After such an error the group is broken: every later call fails too.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/parallel/communicator.h"
#include "pipeline/parallel/group.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace reel {

class GlooCommunicator final : public Communicator {
 public:
  // Joins the group (group.h: JoinGroup's checks) and connects a full mesh of TCP pairs.
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(const GroupOptions& options);
  ~GlooCommunicator() override;

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) override;
  absl::Status AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                         Tensor& out) override;
  absl::Status Broadcast(Tensor& tensor, int root) override;
  absl::Status Exchange(absl::Span<const SendTo> sends, absl::Span<const RecvFrom> recvs) override;
  absl::Status Barrier() override;

  // Payload bytes this rank has sent since creation, by operation (ring all-reduce: 2·(w−1)/w of
  // the buffer; all-gather: (w−1) × its part; broadcast root: (w−1) × the tensor), for benchmarks.
  struct Traffic {
    int64_t all_reduce = 0, all_gather = 0, exchange = 0, broadcast = 0;
    double seconds = 0;  // wall time inside Gloo calls (waiting for peers included)
    int64_t total() const { return all_reduce + all_gather + exchange + broadcast; }
  };
  const Traffic& traffic() const { return traffic_; }

 private:
  GlooCommunicator(GroupOptions options, std::shared_ptr<gloo::Context> context);
  uint32_t NextTag() { return next_tag_++; }

  GroupOptions options_;
  std::shared_ptr<gloo::Context> context_;
  uint32_t next_tag_ = 1;  // collectives only: every rank makes the same sequence of them
  Traffic traffic_;
};

}  // namespace reel
