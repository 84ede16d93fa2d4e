#include "services/worker/group_renderer.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::worker {
namespace {

// Messages from rank 0: a header [kind, payload bytes], then the payload, one byte per float (a
// request is a few hundred bytes; Broadcast moves f32 tensors).
enum Kind { kKeepAlive = 0, kRender = 1, kShutdown = 2 };

absl::StatusOr<Tensor> BytesToTensor(const std::string& bytes) {
  std::vector<float> v(bytes.begin(), bytes.end());
  for (size_t i = 0; i < bytes.size(); ++i) v[i] = static_cast<unsigned char>(bytes[i]);
  return Tensor::FromVector({static_cast<int64_t>(v.size())}, v);
}

// Both sides' per-step agreement on cancellation: rank 0's flag, broadcast from the progress
// callback (called at the same points on every rank, before the renderer checks its cancel flag).
struct StepAgreement {
  Communicator& group;
  const std::atomic<bool>* leader_cancel = nullptr;  // rank 0 only
  std::atomic<bool> cancel{false};                   // what the renderer checks
  absl::Status error;

  void OnStep() {
    if (!error.ok()) return;
    absl::StatusOr<Tensor> flag =
        Tensor::FromVector({1}, {leader_cancel != nullptr && leader_cancel->load() ? 1.0f : 0.0f});
    error = flag.ok() ? group.Broadcast(*flag, 0) : flag.status();
    cancel = !error.ok() || (*flag->ToVector())[0] != 0.0f;
  }
};

void PutString(std::string& out, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), 4).append(s);
}
template <typename T>
void PutNumber(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

std::string SerializeRequest(const RenderRequest& r) {
  std::string out;
  PutString(out, r.prompt);
  PutString(out, r.negative_prompt);
  PutString(out, r.sampler);
  for (int v : {r.width, r.height, r.frames, r.steps}) PutNumber(out, v);
  PutNumber(out, r.fps);
  PutNumber(out, r.cfg_scale);
  PutNumber(out, r.seed);
  return out;
}

absl::StatusOr<RenderRequest> DeserializeRequest(const std::string& bytes) {
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (at + n > bytes.size()) return false;
    std::memcpy(dst, bytes.data() + at, n);
    at += n;
    return true;
  };
  auto take_string = [&](std::string& s) {
    uint32_t n = 0;
    if (!take(&n, 4) || at + n > bytes.size()) return false;
    s = bytes.substr(at, n);
    at += n;
    return true;
  };
  RenderRequest r;
  if (!take_string(r.prompt) || !take_string(r.negative_prompt) || !take_string(r.sampler) ||
      !take(&r.width, sizeof(int)) || !take(&r.height, sizeof(int)) ||
      !take(&r.frames, sizeof(int)) || !take(&r.steps, sizeof(int)) ||
      !take(&r.fps, sizeof(double)) || !take(&r.cfg_scale, sizeof(double)) ||
      !take(&r.seed, sizeof(uint64_t)) || at != bytes.size()) {
    return absl::DataLossError("worker group: a malformed request from rank 0");
  }
  return r;
}

GroupLeaderRenderer::GroupLeaderRenderer(Renderer& inner, Communicator& group,
                                         absl::Duration keepalive_every,
                                         std::function<void()> on_broken)
    : inner_(inner),
      group_(group),
      keepalive_every_(keepalive_every),
      on_broken_(std::move(on_broken)) {
  keepalive_ = std::thread([this] { KeepAlive(); });
}

GroupLeaderRenderer::~GroupLeaderRenderer() { (void)Shutdown(); }

absl::Status GroupLeaderRenderer::Broken(const absl::Status& error) {
  const bool first = broken_.ok();
  if (first) broken_ = error;
  if (first && on_broken_) on_broken_();
  return absl::AbortedError(absl::StrCat("the worker group is broken: ", broken_.message()));
}

absl::Status GroupLeaderRenderer::Send(int kind, const std::string& payload) {
  if (!broken_.ok()) return broken_;
  REEL_ASSIGN_OR_RETURN(
      Tensor header,
      Tensor::FromVector({2}, {static_cast<float>(kind), static_cast<float>(payload.size())}));
  REEL_RETURN_IF_ERROR(group_.Broadcast(header, 0));
  if (payload.empty()) return absl::OkStatus();
  REEL_ASSIGN_OR_RETURN(Tensor body, BytesToTensor(payload));
  return group_.Broadcast(body, 0);
}

void GroupLeaderRenderer::KeepAlive() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const auto wait = std::chrono::milliseconds(absl::ToInt64Milliseconds(keepalive_every_));
    if (wake_.wait_for(lock, wait, [this] { return stopping_; })) break;
    if (!broken_.ok()) break;
    if (absl::Status sent = Send(kKeepAlive, ""); !sent.ok()) {
      (void)Broken(sent);
      break;
    }
  }
}

absl::Status GroupLeaderRenderer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return broken_;
    stopping_ = true;
    if (broken_.ok()) (void)Send(kShutdown, "");
  }
  wake_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
  return broken_;
}

absl::Status GroupLeaderRenderer::Render(const RenderRequest& request, FrameSink& sink,
                                         const std::function<void(const RenderProgress&)>& progress,
                                         const std::atomic<bool>* cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker group is shut down");
  if (!broken_.ok()) return Broken(broken_);
  // Resolve here: a request this model refuses never reaches the followers.
  REEL_ASSIGN_OR_RETURN(RenderRequest resolved, inner_.Resolve(request));
  if (absl::Status sent = Send(kRender, SerializeRequest(resolved)); !sent.ok()) {
    return Broken(sent);
  }
  StepAgreement steps{group_, cancel};
  const absl::Status status = inner_.Render(
      resolved, sink,
      [&](const RenderProgress& p) {
        steps.OnStep();
        if (progress) progress(p);
      },
      &steps.cancel);
  if (!steps.error.ok()) return Broken(steps.error);
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kDeadlineExceeded) {
    return Broken(status);  // a collective inside the forward failed: a rank is gone
  }
  return status;
}

absl::Status FollowGroup(Renderer& inner, Communicator& group) {
  while (true) {
    REEL_ASSIGN_OR_RETURN(Tensor header, Tensor::Zeros({2}));
    REEL_RETURN_IF_ERROR(group.Broadcast(header, 0));
    const std::vector<float> h = *header.ToVector();
    const int kind = static_cast<int>(h[0]);
    if (kind == kShutdown) return absl::OkStatus();
    if (kind == kKeepAlive) continue;
    if (kind != kRender) return absl::DataLossError("worker group: unknown message from rank 0");
    REEL_ASSIGN_OR_RETURN(Tensor body, Tensor::Zeros({static_cast<int64_t>(h[1])}));
    REEL_RETURN_IF_ERROR(group.Broadcast(body, 0));
    REEL_ASSIGN_OR_RETURN(const std::vector<float> values, body.ToVector());
    std::string bytes;
    for (float v : values) bytes.push_back(static_cast<char>(static_cast<int>(v)));
    REEL_ASSIGN_OR_RETURN(RenderRequest request, DeserializeRequest(bytes));
    DiscardSink sink;
    StepAgreement steps{group};
    const absl::Status status = inner.Render(
        request, sink, [&](const RenderProgress&) { steps.OnStep(); }, &steps.cancel);
    if (!steps.error.ok()) return steps.error;
    if (status.code() == absl::StatusCode::kUnavailable ||
        status.code() == absl::StatusCode::kDeadlineExceeded) {
      return status;
    }
    // Any other outcome (done, cancelled with rank 0, an input error rank 0 hit too): next job.
  }
}

}  // namespace reel::worker
