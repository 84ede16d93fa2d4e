#pragma once
// Communicator over NCCL (the CUDA toolkit's libnccl): the GPU path of distributed execution. The
// group meets through an existing communicator (the Gloo one over the same rendezvous, with all of
// group.h's checks): rank 0 makes the NCCL unique id and broadcasts it there, so NCCL needs no
// rendezvous of its own.
//
// Every call has the group's deadline: the communicator is non-blocking (ncclConfig_t.blocking =
// 0) and each operation is polled (cudaStreamQuery, ncclCommGetAsyncError) until it ends or the
// deadline passes, when the communicator is aborted — a dead or hung peer becomes
// DEADLINE_EXCEEDED or UNAVAILABLE, never a hang — and every later call fails too.
//
// Tensors today are host f32 (every op still runs on the CPU tensors the model keeps; the GPU
// forward is issue 19's), so each call stages through one device buffer: copy in, collective, copy
// out. Once activations live on the device the same calls can take device pointers directly.
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pipeline/parallel/communicator.h"

namespace reel {

class NcclCommunicator final : public Communicator {
 public:
  // Whether this process sees a CUDA device NCCL can use (false, with the reason, on a CPU host).
  static absl::StatusOr<int> DeviceCount();
  // Joins an NCCL group with bootstrap's ranks and world size, on CUDA device `device` (one device
  // per rank: NCCL refuses two ranks of a group on one GPU). Collective over bootstrap.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(Communicator& bootstrap,
                                                                  int device,
                                                                  absl::Duration timeout);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) override;
  absl::Status AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                         Tensor& out) override;
  absl::Status Broadcast(Tensor& tensor, int root) override;
  absl::Status Exchange(absl::Span<const SendTo> sends, absl::Span<const RecvFrom> recvs) override;
  absl::Status Barrier() override;

  struct State;  // NCCL and CUDA handles (nccl_communicator.cc)

 private:
  NcclCommunicator(int rank, int world, absl::Duration timeout, std::unique_ptr<State> state);

  int rank_ = 0, world_ = 1;
  absl::Duration timeout_;
  std::unique_ptr<State> state_;
};

}  // namespace reel
