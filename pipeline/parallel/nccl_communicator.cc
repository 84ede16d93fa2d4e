#include "pipeline/parallel/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {

struct NcclCommunicator::State {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  float* buffer = nullptr;  // the staging buffer on the device
  size_t capacity = 0;      // floats
  absl::Status broken;      // the first failure; the group is unusable after it

  ~State() {
    if (comm != nullptr) ncclCommAbort(comm);  // still set: broken, or the goodbye failed
    if (buffer != nullptr) cudaFree(buffer);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

namespace {

absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", cudaGetErrorString(e)));
}

absl::Status NcclStatus(ncclResult_t r, const char* what) {
  if (r == ncclSuccess || r == ncclInProgress) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": NCCL ", ncclGetErrorString(r)));
}

// Polls until the communicator has no operation in flight and the stream is idle, or the deadline;
// a failure or a timeout aborts the communicator (so that no peer is left waiting on this one).
absl::Status WaitFor(NcclCommunicator::State& s, absl::Time deadline, const char* what) {
  while (true) {
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(s.comm, &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      s.broken = absl::UnavailableError(
          absl::StrCat(what, ": NCCL ", ncclGetErrorString(async), " (a peer failed?)"));
      break;
    }
    if (async == ncclSuccess) {
      const cudaError_t q = cudaStreamQuery(s.stream);
      if (q == cudaSuccess) return absl::OkStatus();
      if (q != cudaErrorNotReady) {
        s.broken = CudaStatus(q, what);
        break;
      }
    }
    if (absl::Now() > deadline) {
      s.broken = absl::DeadlineExceededError(
          absl::StrCat(what, ": the group did not answer in time (a peer is dead or hung)"));
      break;
    }
    std::this_thread::yield();
  }
  ncclCommAbort(s.comm);
  s.comm = nullptr;
  return s.broken;
}

// The staging buffer, grown to at least `floats`.
absl::StatusOr<float*> Staging(NcclCommunicator::State& s, size_t floats) {
  if (floats > s.capacity) {
    if (s.buffer != nullptr) cudaFree(s.buffer);
    s.buffer = nullptr;
    s.capacity = 0;
    void* p = nullptr;
    REEL_RETURN_IF_ERROR(CudaStatus(cudaMalloc(&p, floats * sizeof(float)), "cudaMalloc"));
    s.buffer = static_cast<float*>(p);
    s.capacity = floats;
  }
  return s.buffer;
}

absl::Status ToDevice(NcclCommunicator::State& s, float* dst, const Tensor& t) {
  return CudaStatus(
      cudaMemcpyAsync(dst, t.data<float>(), t.bytes(), cudaMemcpyHostToDevice, s.stream),
      "copying to the device");
}

absl::Status ToHost(NcclCommunicator::State& s, Tensor& t, const float* src) {
  return CudaStatus(
      cudaMemcpyAsync(t.data<float>(), src, t.bytes(), cudaMemcpyDeviceToHost, s.stream),
      "copying to the host");
}

}  // namespace

absl::StatusOr<int> NcclCommunicator::DeviceCount() {
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("no usable CUDA device: ", cudaGetErrorString(e)));
  }
  return count;
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(Communicator& bootstrap,
                                                                           int device,
                                                                           absl::Duration timeout) {
  REEL_ASSIGN_OR_RETURN(const int devices, DeviceCount());
  if (device < 0 || device >= devices) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ", device, " does not exist (", devices, " visible)"));
  }
  auto state = std::make_unique<State>();
  state->device = device;
  REEL_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device), "cudaSetDevice"));
  // The unique id travels as 32 floats' worth of bytes through the bootstrap group.
  ncclUniqueId id{};
  static_assert(sizeof(id) % sizeof(float) == 0);
  REEL_ASSIGN_OR_RETURN(Tensor carrier,
                        Tensor::Zeros({static_cast<int64_t>(sizeof(id) / sizeof(float))}));
  if (bootstrap.rank() == 0) {
    REEL_RETURN_IF_ERROR(NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"));
    std::memcpy(carrier.data<float>(), &id, sizeof(id));
  }
  REEL_RETURN_IF_ERROR(bootstrap.Broadcast(carrier, 0));
  std::memcpy(&id, carrier.data<float>(), sizeof(id));

  REEL_RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking),
                                  "cudaStreamCreate"));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every wait below has a deadline
  REEL_RETURN_IF_ERROR(NcclStatus(
      ncclCommInitRankConfig(&state->comm, bootstrap.world_size(), id, bootstrap.rank(), &config),
      "ncclCommInitRankConfig"));
  REEL_RETURN_IF_ERROR(WaitFor(*state, absl::Now() + timeout, "joining the NCCL group"));
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(bootstrap.rank(), bootstrap.world_size(), timeout, std::move(state)));
}

NcclCommunicator::NcclCommunicator(int rank, int world, absl::Duration timeout,
                                   std::unique_ptr<State> state)
    : rank_(rank), world_(world), timeout_(timeout), state_(std::move(state)) {}

NcclCommunicator::~NcclCommunicator() {
  if (state_->comm == nullptr) return;
  // An orderly goodbye while the group is healthy; ~State aborts whatever is left.
  cudaSetDevice(state_->device);
  if (NcclStatus(ncclCommFinalize(state_->comm), "ncclCommFinalize").ok()) {
    const absl::Time deadline = absl::Now() + timeout_;
    ncclResult_t async = ncclInProgress;
    while (async == ncclInProgress && absl::Now() < deadline) {
      ncclCommGetAsyncError(state_->comm, &async);
      std::this_thread::yield();
    }
    if (async == ncclSuccess && ncclCommDestroy(state_->comm) == ncclSuccess) {
      state_->comm = nullptr;
    }
  }
}

absl::Status NcclCommunicator::AllReduceSum(absl::Span<Tensor* const> tensors) {
  REEL_RETURN_IF_ERROR(state_->broken);
  size_t total = 0;
  for (Tensor* t : tensors) {
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*t, "AllReduceSum"));
    total += static_cast<size_t>(t->numel());
  }
  if (total == 0) return absl::OkStatus();
  REEL_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(state_->device), "cudaSetDevice"));
  REEL_ASSIGN_OR_RETURN(float* buffer, Staging(*state_, total));
  size_t offset = 0;
  for (Tensor* t : tensors) {  // one reduction for all of them
    REEL_RETURN_IF_ERROR(ToDevice(*state_, buffer + offset, *t));
    offset += static_cast<size_t>(t->numel());
  }
  REEL_RETURN_IF_ERROR(NcclStatus(
      ncclAllReduce(buffer, buffer, total, ncclFloat, ncclSum, state_->comm, state_->stream),
      "ncclAllReduce"));
  offset = 0;
  for (Tensor* t : tensors) {
    REEL_RETURN_IF_ERROR(ToHost(*state_, *t, buffer + offset));
    offset += static_cast<size_t>(t->numel());
  }
  return WaitFor(*state_, absl::Now() + timeout_, "AllReduceSum");
}

absl::Status NcclCommunicator::AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                                         Tensor& out) {
  REEL_RETURN_IF_ERROR(state_->broken);
  REEL_RETURN_IF_ERROR(CheckGatherArgs(local, counts, out, rank_, world_));
  if (out.numel() == 0) return absl::OkStatus();
  REEL_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(state_->device), "cudaSetDevice"));
  REEL_ASSIGN_OR_RETURN(float* buffer, Staging(*state_, static_cast<size_t>(out.numel())));
  std::vector<size_t> offsets(world_ + 1, 0);
  for (int r = 0; r < world_; ++r) offsets[r + 1] = offsets[r] + static_cast<size_t>(counts[r]);
  REEL_RETURN_IF_ERROR(ToDevice(*state_, buffer + offsets[rank_], local));
  // Uneven parts: NCCL's all-gather wants equal ones, so every rank broadcasts its own, in place,
  // all in one group (one launch).
  REEL_RETURN_IF_ERROR(NcclStatus(ncclGroupStart(), "ncclGroupStart"));
  for (int r = 0; r < world_; ++r) {
    if (counts[r] == 0) continue;
    REEL_RETURN_IF_ERROR(NcclStatus(
        ncclBroadcast(buffer + offsets[r], buffer + offsets[r], static_cast<size_t>(counts[r]),
                      ncclFloat, r, state_->comm, state_->stream),
        "ncclBroadcast"));
  }
  REEL_RETURN_IF_ERROR(NcclStatus(ncclGroupEnd(), "ncclGroupEnd"));
  REEL_RETURN_IF_ERROR(ToHost(*state_, out, buffer));
  return WaitFor(*state_, absl::Now() + timeout_, "AllGather");
}

absl::Status NcclCommunicator::Broadcast(Tensor& tensor, int root) {
  REEL_RETURN_IF_ERROR(state_->broken);
  REEL_RETURN_IF_ERROR(CheckF32Contiguous(tensor, "Broadcast"));
  if (root < 0 || root >= world_) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: root ", root, " of ", world_));
  }
  if (tensor.numel() == 0) return absl::OkStatus();
  REEL_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(state_->device), "cudaSetDevice"));
  REEL_ASSIGN_OR_RETURN(float* buffer, Staging(*state_, static_cast<size_t>(tensor.numel())));
  if (rank_ == root) REEL_RETURN_IF_ERROR(ToDevice(*state_, buffer, tensor));
  REEL_RETURN_IF_ERROR(NcclStatus(ncclBroadcast(buffer, buffer, static_cast<size_t>(tensor.numel()),
                                                ncclFloat, root, state_->comm, state_->stream),
                                  "ncclBroadcast"));
  REEL_RETURN_IF_ERROR(ToHost(*state_, tensor, buffer));
  return WaitFor(*state_, absl::Now() + timeout_, "Broadcast");
}

absl::Status NcclCommunicator::Exchange(absl::Span<const SendTo> sends,
                                        absl::Span<const RecvFrom> recvs) {
  REEL_RETURN_IF_ERROR(state_->broken);
  size_t total = 0;
  for (const SendTo& s : sends) {
    REEL_RETURN_IF_ERROR(CheckPeer(s.peer, rank_, world_, "Exchange"));
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*s.tensor, "Exchange"));
    total += static_cast<size_t>(s.tensor->numel());
  }
  for (const RecvFrom& r : recvs) {
    REEL_RETURN_IF_ERROR(CheckPeer(r.peer, rank_, world_, "Exchange"));
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*r.tensor, "Exchange"));
    total += static_cast<size_t>(r.tensor->numel());
  }
  if (total == 0) return absl::OkStatus();
  REEL_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(state_->device), "cudaSetDevice"));
  REEL_ASSIGN_OR_RETURN(float* buffer, Staging(*state_, total));
  size_t offset = 0;
  std::vector<float*> send_at, recv_at;
  for (const SendTo& s : sends) {
    send_at.push_back(buffer + offset);
    REEL_RETURN_IF_ERROR(ToDevice(*state_, buffer + offset, *s.tensor));
    offset += static_cast<size_t>(s.tensor->numel());
  }
  for (const RecvFrom& r : recvs) {
    recv_at.push_back(buffer + offset);
    offset += static_cast<size_t>(r.tensor->numel());
  }
  // All in one group, so a halo exchange with both neighbours cannot deadlock on ordering.
  REEL_RETURN_IF_ERROR(NcclStatus(ncclGroupStart(), "ncclGroupStart"));
  for (size_t i = 0; i < recvs.size(); ++i) {
    REEL_RETURN_IF_ERROR(
        NcclStatus(ncclRecv(recv_at[i], static_cast<size_t>(recvs[i].tensor->numel()), ncclFloat,
                            recvs[i].peer, state_->comm, state_->stream),
                   "ncclRecv"));
  }
  for (size_t i = 0; i < sends.size(); ++i) {
    REEL_RETURN_IF_ERROR(
        NcclStatus(ncclSend(send_at[i], static_cast<size_t>(sends[i].tensor->numel()), ncclFloat,
                            sends[i].peer, state_->comm, state_->stream),
                   "ncclSend"));
  }
  REEL_RETURN_IF_ERROR(NcclStatus(ncclGroupEnd(), "ncclGroupEnd"));
  for (size_t i = 0; i < recvs.size(); ++i) {
    REEL_RETURN_IF_ERROR(ToHost(*state_, *recvs[i].tensor, recv_at[i]));
  }
  return WaitFor(*state_, absl::Now() + timeout_, "Exchange");
}

absl::Status NcclCommunicator::Barrier() {
  REEL_ASSIGN_OR_RETURN(Tensor one, Tensor::Zeros({1}));
  Tensor* t = &one;
  return AllReduceSum(absl::MakeConstSpan(&t, 1));
}

}  // namespace reel
