#include "kernels/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace reel::kernels::cuda {
namespace {

// Opens `soname` (the toolkit's we were compiled against, cmake/Cuda.cmake, so the declarations
// match the library) and resolves symbols from it, collecting the names it lacks.
class SymbolLoader {
 public:
  explicit SymbolLoader(const char* soname) : soname_(soname) {
    lib_ = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (lib_ == nullptr) {
      const char* why = dlerror();
      error_ = absl::StrCat("cannot load ", soname, ": ", why != nullptr ? why : "?");
    }
  }

  template <typename Fn>
  void Resolve(Fn& fn, const char* name) {
    if (lib_ == nullptr) return;
    fn = reinterpret_cast<Fn>(dlsym(lib_, name));
    if (fn == nullptr) absl::StrAppend(&missing_, missing_.empty() ? "" : ", ", name);
  }

  // OK once every Resolve succeeded. The library stays loaded for the life of the process either
  // way: handles and streams may outlive any one caller.
  absl::Status status() const {
    if (!error_.empty()) return absl::UnavailableError(error_);
    if (!missing_.empty())
      return absl::UnavailableError(absl::StrCat(soname_, " lacks ", missing_));
    return absl::OkStatus();
  }

 private:
  const char* soname_;
  void* lib_ = nullptr;
  std::string error_;
  std::string missing_;
};

absl::StatusOr<CublasApi> LoadCublas() {
  SymbolLoader loader(REEL_CUBLAS_SONAME);
  CublasApi api;
  loader.Resolve(api.create, "cublasCreate_v2");
  loader.Resolve(api.destroy, "cublasDestroy_v2");
  loader.Resolve(api.set_stream, "cublasSetStream_v2");
  loader.Resolve(api.set_math_mode, "cublasSetMathMode");
  loader.Resolve(api.sgemm, "cublasSgemm_v2_64");
  loader.Resolve(api.sgemm_strided_batched, "cublasSgemmStridedBatched_64");
  loader.Resolve(api.gemm_ex, "cublasGemmEx_64");
  loader.Resolve(api.status_name, "cublasGetStatusName");
  loader.Resolve(api.status_string, "cublasGetStatusString");
  if (absl::Status status = loader.status(); !status.ok()) return status;
  return api;
}

absl::StatusOr<CublasLtApi> LoadCublasLt() {
  SymbolLoader loader(REEL_CUBLASLT_SONAME);
  CublasLtApi api;
  loader.Resolve(api.create, "cublasLtCreate");
  loader.Resolve(api.matmul_desc_create, "cublasLtMatmulDescCreate");
  loader.Resolve(api.matmul_desc_destroy, "cublasLtMatmulDescDestroy");
  loader.Resolve(api.matmul_desc_set_attribute, "cublasLtMatmulDescSetAttribute");
  loader.Resolve(api.matrix_layout_create, "cublasLtMatrixLayoutCreate");
  loader.Resolve(api.matrix_layout_destroy, "cublasLtMatrixLayoutDestroy");
  loader.Resolve(api.preference_create, "cublasLtMatmulPreferenceCreate");
  loader.Resolve(api.preference_destroy, "cublasLtMatmulPreferenceDestroy");
  loader.Resolve(api.preference_set_attribute, "cublasLtMatmulPreferenceSetAttribute");
  loader.Resolve(api.algo_get_heuristic, "cublasLtMatmulAlgoGetHeuristic");
  loader.Resolve(api.matmul, "cublasLtMatmul");
  if (absl::Status status = loader.status(); !status.ok()) return status;
  return api;
}

}  // namespace

absl::StatusOr<const CublasApi*> Cublas() {
  static const absl::StatusOr<CublasApi> api = LoadCublas();  // C++ guarantees one thread-safe init
  if (!api.ok()) return api.status();
  return &*api;
}

absl::StatusOr<const CublasLtApi*> CublasLt() {
  static const absl::StatusOr<CublasLtApi> api = LoadCublasLt();
  if (!api.ok()) return api.status();
  return &*api;
}

}  // namespace reel::kernels::cuda
