#include "pipeline/tensor/cuda_context.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/runtime.h"

namespace reel::cuda_context {
namespace {

namespace kc = kernels::cuda;

struct DeviceState {
  kc::Stream stream;
};

// Device states live as long as the process: tensors freed during static destruction still queue
// their cudaFreeAsync on the device's stream, so the stream must outlive them (never destroyed).
absl::StatusOr<DeviceState*> StateOf(int device) {
  static std::mutex mu;
  static auto* states = new std::map<int, std::unique_ptr<DeviceState>>();  // never deleted
  std::lock_guard<std::mutex> lock(mu);
  auto it = states->find(device);
  if (it != states->end()) return it->second.get();
  auto state = std::make_unique<DeviceState>();
  absl::StatusOr<kc::Stream> stream = kc::Stream::Create();
  if (!stream.ok()) return stream.status();
  state->stream = *std::move(stream);
  // The default pool returns freed memory to the driver at every synchronization unless told to
  // keep it: keeping it is what makes the pool an arena across denoising steps.
  cudaMemPool_t pool = nullptr;
  absl::Status s =
      kc::FromCudaError(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
  if (!s.ok()) return s;
  uint64_t keep_all = UINT64_MAX;
  s = kc::FromCudaError(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
                        "cudaMemPoolSetAttribute(ReleaseThreshold)");
  if (!s.ok()) return s;
  DeviceState* raw = state.get();
  states->emplace(device, std::move(state));
  return raw;
}

}  // namespace

absl::StatusOr<Context> For(int device) {
  int current = -1;
  absl::Status s = kc::FromCudaError(cudaGetDevice(&current), "cudaGetDevice");
  if (!s.ok()) return s;
  if (current != device) {
    s = kc::FromCudaError(cudaSetDevice(device), absl::StrCat("cudaSetDevice(", device, ")"));
    if (!s.ok()) return s;
  }
  absl::StatusOr<DeviceState*> state = StateOf(device);
  if (!state.ok()) return state.status();
  // cuBLAS handles are per host thread (cuBLAS's advice); they hold no tensor memory, so they may
  // go with their thread.
  thread_local std::map<int, kc::CublasHandle> handles;
  auto it = handles.find(device);
  if (it == handles.end()) {
    absl::StatusOr<kc::CublasHandle> handle = kc::CublasHandle::Create();
    if (!handle.ok()) return handle.status();
    it = handles.emplace(device, *std::move(handle)).first;
  }
  return Context{device, (*state)->stream.get(), it->second.get()};
}

}  // namespace reel::cuda_context
