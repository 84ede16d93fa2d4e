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

  // Payload bytes this rank has handed to the transport since creation (for benchmarks).
  int64_t bytes_sent() const { return bytes_sent_; }

 private:
  GlooCommunicator(GroupOptions options, std::shared_ptr<gloo::Context> context);
  uint32_t NextTag() { return next_tag_++; }

  GroupOptions options_;
  std::shared_ptr<gloo::Context> context_;
  uint32_t next_tag_ = 1;  // collectives only: every rank makes the same sequence of them
  int64_t bytes_sent_ = 0;
};

}  // namespace reel
