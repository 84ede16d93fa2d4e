#pragma once
// Private to pipeline/ (tensor ops, and model code with its own kernels such as video_ops):
// runs a kernels/cuda call for a tensor that lives on a GPU. The call
// may use `ctx.stream` and `ctx.cublas` (cuda_context.h). In a build without the CUDA backend the
// call is not compiled and the op returns UNAVAILABLE (no GPU tensor can exist there anyway: the
// allocator refuses, device_memory.h).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/tensor/status_macros.h"
#include "pipeline/tensor/tensor.h"

#ifdef REEL_HAVE_CUDA
#include "pipeline/tensor/cuda_context.h"

#define REEL_ON_GPU(tensor, call)                                              \
  do {                                                                         \
    REEL_ASSIGN_OR_RETURN(const ::reel::cuda_context::Context ctx,             \
                          ::reel::cuda_context::For((tensor).device().index)); \
    REEL_RETURN_IF_ERROR(call);                                                \
  } while (0)
#else
#define REEL_ON_GPU(tensor, call)  \
  return ::absl::UnavailableError( \
      ::absl::StrCat(::reel::DeviceName((tensor).device()), ": built without the CUDA backend"))
#endif

namespace reel {
inline bool OnGpu(const Tensor& t) { return !t.device().is_cpu(); }
}  // namespace reel
