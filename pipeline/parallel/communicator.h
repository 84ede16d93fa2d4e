#pragma once
// The seam for distributed execution (ARCHITECTURE.md §3–4). Every DiT forward takes a
// ParallelContext and routes the sums that sequence parallelism must reduce — linear attention's
// Σφ(k)ᵀv and Σφ(k), a few KB per layer — through its Communicator. A world of 1 is the normal
// case and goes through the same calls (LocalCommunicator); NCCL and Gloo communicators plug in
// behind the same interface.
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Element-wise sum over all ranks, in place; every rank passes tensors of the same shapes.
  virtual absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) = 0;
};

// A world of one rank: the reductions are identities (after the same argument checks).
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) override;
};

// What a forward needs to know about the world it runs in. Default: a world of 1.
struct ParallelContext {
  Communicator* comm = nullptr;  // not owned; null means a LocalCommunicator

  Communicator& communicator() const;
  int rank() const { return communicator().rank(); }
  int world_size() const { return communicator().world_size(); }
};

}  // namespace reel
