#include "pipeline/parallel/communicator.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

absl::Status CheckF32Contiguous(const Tensor& t, const char* what) {
  if (t.dtype() != DType::kF32 || !t.is_contiguous() || t.device() != Device::Cpu()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": tensors must be contiguous f32 on the CPU, got ",
                     ShapeString(t.shape()), t.is_contiguous() ? "" : " (strided)"));
  }
  return absl::OkStatus();
}

absl::Status CheckGatherArgs(const Tensor& local, absl::Span<const int64_t> counts,
                             const Tensor& out, int rank, int world_size) {
  REEL_RETURN_IF_ERROR(CheckF32Contiguous(local, "AllGather"));
  REEL_RETURN_IF_ERROR(CheckF32Contiguous(out, "AllGather"));
  if (static_cast<int>(counts.size()) != world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllGather: ", counts.size(), " counts for ", world_size, " ranks"));
  }
  int64_t total = 0;
  for (int64_t c : counts) {
    if (c < 0) return absl::InvalidArgumentError("AllGather: negative count");
    total += c;
  }
  if (counts[rank] != local.numel() || total != out.numel()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllGather: rank ", rank, " gives ", local.numel(), " elements (count says ",
                     counts[rank], ") into ", out.numel(), " (counts sum to ", total, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckPeer(int peer, int rank, int world_size, const char* what) {
  if (peer < 0 || peer >= world_size || peer == rank) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": peer ", peer,
                                                   " is not another rank of ", "this world (rank ",
                                                   rank, " of ", world_size, ")"));
  }
  return absl::OkStatus();
}

absl::Status Communicator::Send(const Tensor& tensor, int peer) {
  const SendTo s{peer, &tensor};
  return Exchange(absl::MakeConstSpan(&s, 1), {});
}

absl::Status Communicator::Recv(Tensor& tensor, int peer) {
  const RecvFrom r{peer, &tensor};
  return Exchange({}, absl::MakeConstSpan(&r, 1));
}

absl::Status Communicator::AllScan(absl::Span<Tensor* const> tensors) {
  for (const Tensor* t : tensors) {
    if (t == nullptr) return absl::InvalidArgumentError("AllScan: null tensor");
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*t, "AllScan"));
  }
  const int r = rank(), w = world_size();
  if (r > 0) {
    // The predecessor's inclusive prefix, then ours on top of it.
    for (Tensor* t : tensors) {
      REEL_ASSIGN_OR_RETURN(Tensor prefix, Tensor::Empty(t->shape()));
      REEL_RETURN_IF_ERROR(Recv(prefix, r - 1));
      REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, *t, prefix));
    }
  }
  if (r + 1 < w) {
    for (const Tensor* t : tensors) REEL_RETURN_IF_ERROR(Send(*t, r + 1));
  }
  return absl::OkStatus();
}

absl::Status LocalCommunicator::AllReduceSum(absl::Span<Tensor* const> tensors) {
  for (const Tensor* t : tensors) {
    if (t == nullptr) return absl::InvalidArgumentError("AllReduceSum: null tensor");
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*t, "AllReduceSum"));
  }
  return absl::OkStatus();
}

absl::Status LocalCommunicator::AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                                          Tensor& out) {
  REEL_RETURN_IF_ERROR(CheckGatherArgs(local, counts, out, 0, 1));
  if (out.raw_data() == local.raw_data()) return absl::OkStatus();
  REEL_ASSIGN_OR_RETURN(Tensor flat_in, local.Reshape({local.numel()}));
  REEL_ASSIGN_OR_RETURN(Tensor flat_out, out.Reshape({out.numel()}));
  return ops::Copy(flat_in, flat_out);
}

absl::Status LocalCommunicator::Broadcast(Tensor& tensor, int root) {
  REEL_RETURN_IF_ERROR(CheckF32Contiguous(tensor, "Broadcast"));
  if (root != 0) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: root ", root, " in a world of 1"));
  }
  return absl::OkStatus();
}

absl::Status LocalCommunicator::Exchange(absl::Span<const SendTo> sends,
                                         absl::Span<const RecvFrom> recvs) {
  for (const SendTo& s : sends) REEL_RETURN_IF_ERROR(CheckPeer(s.peer, 0, 1, "Send"));
  for (const RecvFrom& r : recvs) REEL_RETURN_IF_ERROR(CheckPeer(r.peer, 0, 1, "Recv"));
  return absl::OkStatus();
}

absl::Status LocalCommunicator::AllScan(absl::Span<Tensor* const> tensors) {
  for (const Tensor* t : tensors) {
    if (t == nullptr) return absl::InvalidArgumentError("AllScan: null tensor");
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*t, "AllScan"));
  }
  return absl::OkStatus();
}

Communicator& ParallelContext::communicator() const {
  static LocalCommunicator local;  // stateless
  return comm != nullptr ? *comm : local;
}

}  // namespace reel
