#include "kernels/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace reel::kernels::cuda {
namespace {

absl::StatusOr<CublasApi> Load() {
  // The soname of the toolkit we were compiled against (cmake/Cuda.cmake), so the declarations
  // above match the library.
  void* lib = dlopen(REEL_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(
        absl::StrCat("cannot load ", REEL_CUBLAS_SONAME, ": ", why != nullptr ? why : "?"));
  }
  // Kept loaded for the life of the process: handles and streams may outlive any one caller.
  CublasApi api;
  std::string missing;
  auto resolve = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    if (fn == nullptr) absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
  };
  resolve(api.create, "cublasCreate_v2");
  resolve(api.destroy, "cublasDestroy_v2");
  resolve(api.set_stream, "cublasSetStream_v2");
  resolve(api.set_math_mode, "cublasSetMathMode");
  resolve(api.sgemm, "cublasSgemm_v2_64");
  resolve(api.sgemm_strided_batched, "cublasSgemmStridedBatched_64");
  resolve(api.status_name, "cublasGetStatusName");
  resolve(api.status_string, "cublasGetStatusString");
  if (!missing.empty()) {
    return absl::UnavailableError(absl::StrCat(REEL_CUBLAS_SONAME, " lacks ", missing));
  }
  return api;
}

}  // namespace

absl::StatusOr<const CublasApi*> Cublas() {
  static const absl::StatusOr<CublasApi> api = Load();  // C++ guarantees one thread-safe init
  if (!api.ok()) return api.status();
  return &*api;
}

}  // namespace reel::kernels::cuda
