#include "pipeline/parallel/gloo_communicator.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gloo/allgatherv.h"
#include "gloo/allreduce.h"
#include "gloo/barrier.h"
#include "gloo/broadcast.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/file_store.h"
#include "gloo/rendezvous/prefix_store.h"
#include "gloo/transport/tcp/device.h"
#include "pipeline/parallel/tcp_store.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Point-to-point transfers use one slot outside the collectives' (gloo::Slot puts an 8-bit prefix
// in the top byte; collectives use small prefixes); between one pair they match in issue order.
constexpr uint64_t kExchangeSlot = uint64_t{0xE5} << 56;

// Runs a Gloo call and turns what it throws into a status for `what` on this rank.
template <typename F>
absl::Status Guarded(const GroupOptions& o, GlooCommunicator::Traffic& traffic, const char* what,
                     F&& call) {
  const auto start = std::chrono::steady_clock::now();
  struct AddTime {
    std::chrono::steady_clock::time_point start;
    double& seconds;
    ~AddTime() {
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  } add_time{start, traffic.seconds};
  try {
    call();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    const std::string message = absl::StrCat(
        what, " failed on rank ", o.rank, " of ", o.world_size, " (group '", o.group_id,
        "'): ", e.what(), " — a peer rank died or hung; the group must be abandoned");
    if (absl::StrContains(e.what(), "Timed out") || absl::StrContains(e.what(), "timed out")) {
      return absl::DeadlineExceededError(message);
    }
    return absl::UnavailableError(message);
  }
}

std::chrono::milliseconds Millis(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

}  // namespace

// Gloo's Store interface over our TCP store client (Gloo throws on failure; Guarded catches).
class GlooTcpStore final : public gloo::rendezvous::Store {
 public:
  GlooTcpStore(TcpStoreClient& client, absl::Time deadline) : c_(client), deadline_(deadline) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    Check(c_.Set(key, std::string(data.begin(), data.end()), deadline_));
  }
  std::vector<char> get(const std::string& key) override {
    absl::StatusOr<std::string> v = c_.Get(key, deadline_);
    Check(v.status());
    return std::vector<char>(v->begin(), v->end());
  }
  void wait(const std::vector<std::string>& keys) override {
    wait(keys, Millis(deadline_ - absl::Now()));
  }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override {
    const absl::Time until = std::min(deadline_, absl::Now() + absl::Milliseconds(timeout.count()));
    for (const std::string& key : keys) Check(c_.Get(key, until).status());
  }

 private:
  static void Check(const absl::Status& s) {
    if (!s.ok()) throw std::runtime_error(std::string(s.message()));
  }
  TcpStoreClient& c_;
  absl::Time deadline_;
};

GlooCommunicator::GlooCommunicator(GroupOptions options, std::shared_ptr<gloo::Context> context)
    : options_(std::move(options)), context_(std::move(context)) {}

GlooCommunicator::~GlooCommunicator() = default;

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(const GroupOptions& o) {
  REEL_RETURN_IF_ERROR(ValidateGroupOptions(o));
  const absl::Time deadline = absl::Now() + o.timeout;
  // HOST:PORT: rank 0 serves the store, every rank (rank 0 too) is its client.
  std::unique_ptr<TcpStoreServer> server;
  std::unique_ptr<TcpStoreClient> client;
  if (IsTcpAddress(o.address)) {
    REEL_ASSIGN_OR_RETURN(auto host_port, ParseHostPort(o.address));
    if (o.rank == 0) {
      REEL_ASSIGN_OR_RETURN(server, TcpStoreServer::Start(host_port.first, host_port.second));
    }
    REEL_ASSIGN_OR_RETURN(client,
                          TcpStoreClient::Connect(host_port.first, host_port.second, deadline));
  }
  REEL_RETURN_IF_ERROR(JoinGroup(o, client.get()));
  std::shared_ptr<gloo::rendezvous::Context> context;
  Traffic connecting;
  REEL_RETURN_IF_ERROR(Guarded(o, connecting, "connecting the group", [&] {
    gloo::transport::tcp::attr attr;
    attr.hostname = o.hostname;
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    std::unique_ptr<gloo::rendezvous::Store> base;
    if (client != nullptr) {
      base = std::make_unique<GlooTcpStore>(*client, deadline);
    } else {
      base = std::make_unique<gloo::rendezvous::FileStore>(o.address);
    }
    gloo::rendezvous::PrefixStore store(o.group_id, *base);
    context = std::make_shared<gloo::rendezvous::Context>(o.rank, o.world_size);
    context->setTimeout(Millis(o.timeout));
    context->connectFullMesh(store, device);
  }));
  std::unique_ptr<GlooCommunicator> comm(new GlooCommunicator(o, std::move(context)));
  // Every rank returns only once every pair is connected: a rank that finishes (or fails) right
  // away must not close its pairs while a peer is still connecting. After it, nobody needs the
  // store: rank 0's server stops when `server` goes out of scope.
  REEL_RETURN_IF_ERROR(comm->Barrier());
  return comm;
}

absl::Status GlooCommunicator::AllReduceSum(absl::Span<Tensor* const> tensors) {
  int64_t total = 0;
  for (const Tensor* t : tensors) {
    if (t == nullptr) return absl::InvalidArgumentError("AllReduceSum: null tensor");
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*t, "AllReduceSum"));
    total += t->numel();
  }
  if (total == 0) return absl::OkStatus();
  // One reduction for all the tensors (kv and ksum of a layer): packing costs a copy of a few KB,
  // a second round trip costs far more.
  std::vector<float> packed(static_cast<size_t>(total));
  size_t at = 0;
  for (const Tensor* t : tensors) {
    std::memcpy(packed.data() + at, t->data<float>(), t->bytes());
    at += static_cast<size_t>(t->numel());
  }
  REEL_RETURN_IF_ERROR(Guarded(options_, traffic_, "AllReduceSum", [&] {
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(packed.data(), packed.size());
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTag(NextTag());
    opts.setTimeout(Millis(options_.timeout));
    gloo::allreduce(opts);
  }));
  // A ring all-reduce sends 2·(w−1)/w of the buffer.
  traffic_.all_reduce += 2 * (world_size() - 1) * total * 4 / world_size();
  at = 0;
  for (Tensor* t : tensors) {
    std::memcpy(t->data<float>(), packed.data() + at, t->bytes());
    at += static_cast<size_t>(t->numel());
  }
  return absl::OkStatus();
}

absl::Status GlooCommunicator::AllGather(const Tensor& local, absl::Span<const int64_t> counts,
                                         Tensor& out) {
  REEL_RETURN_IF_ERROR(CheckGatherArgs(local, counts, out, rank(), world_size()));
  std::vector<size_t> elements(counts.begin(), counts.end());
  traffic_.all_gather += (world_size() - 1) * local.numel() * 4;
  return Guarded(options_, traffic_, "AllGather", [&] {
    gloo::AllgathervOptions opts(context_);
    opts.setInput(local.data<float>(), static_cast<size_t>(local.numel()));
    opts.setOutput(out.data<float>(), std::move(elements));
    opts.setTag(NextTag());
    opts.setTimeout(Millis(options_.timeout));
    gloo::allgatherv(opts);
  });
}

absl::Status GlooCommunicator::Broadcast(Tensor& tensor, int root) {
  REEL_RETURN_IF_ERROR(CheckF32Contiguous(tensor, "Broadcast"));
  if (root < 0 || root >= world_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast: root ", root, " in a world of ", world_size()));
  }
  if (rank() == root) traffic_.broadcast += (world_size() - 1) * tensor.numel() * 4;
  return Guarded(options_, traffic_, "Broadcast", [&] {
    gloo::BroadcastOptions opts(context_);
    opts.setOutput(tensor.data<float>(), static_cast<size_t>(tensor.numel()));
    opts.setRoot(root);
    opts.setTag(NextTag());
    opts.setTimeout(Millis(options_.timeout));
    gloo::broadcast(opts);
  });
}

absl::Status GlooCommunicator::Exchange(absl::Span<const SendTo> sends,
                                        absl::Span<const RecvFrom> recvs) {
  for (const SendTo& s : sends) {
    REEL_RETURN_IF_ERROR(CheckPeer(s.peer, rank(), world_size(), "Send"));
    if (s.tensor == nullptr) return absl::InvalidArgumentError("Send: null tensor");
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*s.tensor, "Send"));
  }
  for (const RecvFrom& r : recvs) {
    REEL_RETURN_IF_ERROR(CheckPeer(r.peer, rank(), world_size(), "Recv"));
    if (r.tensor == nullptr) return absl::InvalidArgumentError("Recv: null tensor");
    REEL_RETURN_IF_ERROR(CheckF32Contiguous(*r.tensor, "Recv"));
  }
  return Guarded(options_, traffic_, "Exchange (send/recv)", [&] {
    const std::chrono::milliseconds timeout = Millis(options_.timeout);
    std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> in, out;
    for (const RecvFrom& r : recvs) {
      in.push_back(context_->createUnboundBuffer(r.tensor->raw_data(), r.tensor->bytes()));
      in.back()->recv(r.peer, kExchangeSlot);
    }
    for (const SendTo& s : sends) {
      out.push_back(context_->createUnboundBuffer(s.tensor->raw_data(), s.tensor->bytes()));
      out.back()->send(s.peer, kExchangeSlot);
      traffic_.exchange += static_cast<int64_t>(s.tensor->bytes());
    }
    for (auto& b : in) {
      if (!b->waitRecv(timeout)) throw std::runtime_error("receive aborted");
    }
    for (auto& b : out) {
      if (!b->waitSend(timeout)) throw std::runtime_error("send aborted");
    }
  });
}

absl::Status GlooCommunicator::Barrier() {
  return Guarded(options_, traffic_, "Barrier", [&] {
    gloo::BarrierOptions opts(context_);
    opts.setTag(NextTag());
    opts.setTimeout(Millis(options_.timeout));
    gloo::barrier(opts);
  });
}

}  // namespace reel
