#pragma once
// The seam for distributed execution (ARCHITECTURE.md §3–4). Every DiT forward takes a
// ParallelContext and routes what sequence parallelism must exchange through its Communicator:
// linear attention's Σφ(k)ᵀv and Σφ(k) (a few KB per layer, AllReduceSum), the depthwise conv's
// halo rows (Exchange) and the output bands (AllGather). A world of 1 is the normal case and goes
// through the same calls (LocalCommunicator); Gloo (gloo_communicator.h) and NCCL communicators
// plug in behind the same interface.
//
// Every operation is collective over the ranks it names: all ranks (or both peers) must make the
// same calls in the same order with tensors of the same shapes. Tensors are contiguous f32 (what
// the backends move: raw f32 buffers). A backend gives every call a deadline: a dead or hung peer
// becomes an error status on the other ranks, never a hang.
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// One side of a point-to-point transfer in an Exchange.
struct SendTo {
  int peer = 0;
  const Tensor* tensor = nullptr;
};
struct RecvFrom {
  int peer = 0;
  Tensor* tensor = nullptr;  // filled in place; its shape must match the sender's
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Element-wise sum over all ranks, in place; every rank passes tensors of the same shapes.
  virtual absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) = 0;
  // out (on every rank) = the concatenation in rank order of every rank's `local`, flat;
  // counts[r] = the element count of rank r's part (uneven parts are allowed), out.numel() = Σ.
  virtual absl::Status AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                                 Tensor& out) = 0;
  // `tensor` on every rank becomes root's.
  virtual absl::Status Broadcast(Tensor& tensor, int root) = 0;
  // Point-to-point: posts every receive and every send, then waits for all of them, so a halo
  // exchange with both neighbours is one call that cannot deadlock on ordering. Between one pair
  // of ranks, transfers match in the order they are issued.
  virtual absl::Status Exchange(absl::Span<const SendTo> sends,
                                absl::Span<const RecvFrom> recvs) = 0;
  virtual absl::Status Barrier() = 0;
  // Inclusive prefix sum in rank order, in place: rank r ends with Σ_{q ≤ r} of every tensor (ZeCO
  // All-Scan, acceleration_detail.md part C: each rank receives its predecessor's prefix, adds its
  // own and passes it on — w − 1 sequential hops of one state, not an AllGather of w states).
  virtual absl::Status AllScan(absl::Span<Tensor* const> tensors);

  absl::Status Send(const Tensor& tensor, int peer);
  absl::Status Recv(Tensor& tensor, int peer);
};

// A world of one rank: the collectives are identities (after the same argument checks), and there
// is no peer to send to.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) override;
  absl::Status AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                         Tensor& out) override;
  absl::Status Broadcast(Tensor& tensor, int root) override;
  absl::Status Exchange(absl::Span<const SendTo> sends, absl::Span<const RecvFrom> recvs) override;
  absl::Status Barrier() override { return absl::OkStatus(); }
  absl::Status AllScan(absl::Span<Tensor* const> tensors) override;
};

// The checks every backend makes on its arguments (they move raw f32 buffers), so that a caller
// that works locally also works on Gloo or NCCL. `what` names the operation in the message.
absl::Status CheckF32Contiguous(const Tensor& tensor, const char* what);
absl::Status CheckGatherArgs(const Tensor& local, absl::Span<const int64_t> counts,
                             const Tensor& out, int rank, int world_size);
absl::Status CheckPeer(int peer, int rank, int world_size, const char* what);

// How the ranks of a world share one forward's tokens.
enum class ParallelSplit {
  // Spatial sequence parallelism: every rank holds a band of token rows of every frame
  // (parallel/band.h) and returns the whole output.
  kTokenRows,
  // Temporal parallel prefill: rank r holds the r-th of `world` consecutive clean blocks; the
  // state-update pass obtains each rank's prefix state by AllScan (acceleration_detail.md C.3/C.5)
  // and leaves every rank with the state after all of them. Returns each rank's own block.
  kBlocks,
};

// What a forward needs to know about the world it runs in. Default: a world of 1.
struct ParallelContext {
  Communicator* comm = nullptr;  // not owned; null means a LocalCommunicator
  ParallelSplit split = ParallelSplit::kTokenRows;
  // CFG parallelism (read by the sampling loop, not by the forward): a group of 2 ranks that run
  // the conditional (rank 0) and the unconditional (rank 1) branch of the same tokens and exchange
  // their velocities once per step. Composes with `comm` (world = 2 × sequence-parallel ranks).
  Communicator* cfg = nullptr;

  Communicator& communicator() const;
  int rank() const { return communicator().rank(); }
  int world_size() const { return communicator().world_size(); }
};

}  // namespace reel
