#include "kernels/cuda/gemm_bf16_lt.h"

#include <array>
#include <cstddef>
#include <map>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/runtime.h"

namespace reel::kernels::cuda::internal {
namespace {

// cuBLAS's recommended workspace on Hopper. An upper bound for the heuristic: each call takes only
// what the chosen algorithm asks for, from the stream-ordered pool (see LtGemmBf16).
constexpr uint64_t kMaxWorkspaceBytes = uint64_t{32} << 20;

// The largest power of two (up to 256, cuBLASLt's default assumption) dividing the address: the
// heuristic must only offer algorithms whose vector loads this pointer supports.
uint32_t AlignmentBytes(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

// What the heuristic said for one key: no algorithm (the caller falls back), or one and the
// workspace it needs.
struct Plan {
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace_bytes = 0;
};

// device, trans_b, m, n, k, lda, ldb, ldc, bias?, and the alignments of a, b, c, bias.
using PlanKey = std::array<int64_t, 13>;

// Process-wide: cublasLtHandle_t may be shared by threads and streams, and one per device spares
// every caller the handle's set-up. Never destroyed (deliberately leaked): callers on any thread
// may use it until exit, and destroying handles during static destruction races the CUDA
// runtime's own teardown.
struct LtState {
  std::mutex mu;
  std::map<int, cublasLtHandle_t> handles;  // by device ordinal
  std::map<PlanKey, Plan> plans;
};

LtState& State() {
  static LtState* const state = new LtState();
  return *state;
}

absl::StatusOr<cublasLtHandle_t> HandleFor(const CublasLtApi& api, int device) {
  LtState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  if (auto it = state.handles.find(device); it != state.handles.end()) return it->second;
  cublasLtHandle_t handle = nullptr;
  if (absl::Status s = FromCublasStatus(api.create(&handle), "cublasLtCreate"); !s.ok()) return s;
  state.handles.emplace(device, handle);
  return handle;
}

// The descriptors of one call: host objects, built per call because the bias pointer is part of
// the matmul descriptor (a few microseconds, against the GEMMs' milliseconds).
class LtDescriptors {
 public:
  explicit LtDescriptors(const CublasLtApi& api) : api_(api) {}
  ~LtDescriptors() {
    if (pref_ != nullptr) (void)api_.preference_destroy(pref_);
    for (cublasLtMatrixLayout_t layout : {a_, b_, c_}) {
      if (layout != nullptr) (void)api_.matrix_layout_destroy(layout);
    }
    if (desc_ != nullptr) (void)api_.matmul_desc_destroy(desc_);
  }
  LtDescriptors(const LtDescriptors&) = delete;
  LtDescriptors& operator=(const LtDescriptors&) = delete;

  // The matmul descriptor (f32 compute and scale, transpositions, the bias epilogue) and the
  // three layouts (C and D share one) of LtShapeFor.
  absl::Status Describe(const Bf16GemmOperands& g) {
    if (absl::Status s =
            FromCublasStatus(api_.matmul_desc_create(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                             "cublasLtMatmulDescCreate");
        !s.ok()) {
      return s;
    }
    const LtMatmulShape shape = LtShapeFor(g);
    absl::Status s =
        SetDesc(CUBLASLT_MATMUL_DESC_TRANSA, static_cast<int32_t>(shape.trans_a), "TRANSA");
    if (s.ok()) {
      s = SetDesc(CUBLASLT_MATMUL_DESC_TRANSB, static_cast<int32_t>(shape.trans_b), "TRANSB");
    }
    if (s.ok() && g.bias != nullptr) {
      const auto epilogue = static_cast<uint32_t>(CUBLASLT_EPILOGUE_BIAS);
      const void* bias = g.bias;
      const auto bias_type = static_cast<int32_t>(CUDA_R_32F);
      s = SetDesc(CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue, "EPILOGUE");
      if (s.ok()) s = SetDesc(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "BIAS_POINTER");
      if (s.ok()) s = SetDesc(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type, "BIAS_DATA_TYPE");
    }
    if (s.ok()) s = Layout(&a_, CUDA_R_16BF, shape.a_rows, shape.a_cols, shape.lda, "A");
    if (s.ok()) s = Layout(&b_, CUDA_R_16BF, shape.b_rows, shape.b_cols, shape.ldb, "B");
    if (s.ok()) s = Layout(&c_, CUDA_R_32F, shape.c_rows, shape.c_cols, shape.ldc, "C");
    return s;
  }

  // The heuristic's preference: the workspace bound and the operands' actual alignments (Lt's A
  // is our b, its B our a; C and D are both our c).
  absl::Status Prefer(const Bf16GemmOperands& g) {
    if (absl::Status s =
            FromCublasStatus(api_.preference_create(&pref_), "cublasLtMatmulPreferenceCreate");
        !s.ok()) {
      return s;
    }
    absl::Status s = SetPref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kMaxWorkspaceBytes,
                             "MAX_WORKSPACE_BYTES");
    if (s.ok()) s = SetPref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, AlignmentBytes(g.b), "A");
    if (s.ok()) s = SetPref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, AlignmentBytes(g.a), "B");
    if (s.ok()) s = SetPref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, AlignmentBytes(g.c), "C");
    if (s.ok()) s = SetPref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, AlignmentBytes(g.c), "D");
    return s;
  }

  cublasLtMatmulDesc_t desc() const { return desc_; }
  cublasLtMatrixLayout_t a() const { return a_; }
  cublasLtMatrixLayout_t b() const { return b_; }
  cublasLtMatrixLayout_t c() const { return c_; }
  cublasLtMatmulPreference_t pref() const { return pref_; }

 private:
  template <typename T>
  absl::Status SetDesc(cublasLtMatmulDescAttributes_t attr, const T& value, const char* name) {
    return FromCublasStatus(api_.matmul_desc_set_attribute(desc_, attr, &value, sizeof(value)),
                            absl::StrCat("cublasLtMatmulDescSetAttribute ", name));
  }
  template <typename T>
  absl::Status SetPref(cublasLtMatmulPreferenceAttributes_t attr, const T& value,
                       const char* name) {
    return FromCublasStatus(api_.preference_set_attribute(pref_, attr, &value, sizeof(value)),
                            absl::StrCat("cublasLtMatmulPreferenceSetAttribute ", name));
  }
  absl::Status Layout(cublasLtMatrixLayout_t* layout, cudaDataType type, int64_t rows, int64_t cols,
                      int64_t ld, const char* name) {
    return FromCublasStatus(
        api_.matrix_layout_create(layout, type, static_cast<uint64_t>(rows),
                                  static_cast<uint64_t>(cols), ld),
        absl::StrCat("cublasLtMatrixLayoutCreate ", name, " ", rows, "x", cols, " ld=", ld));
  }

  const CublasLtApi& api_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
};

// The cached plan for `key`, asking the heuristic on the first call. The lock is not held during
// the query: two threads may both ask for a new key, and the first answer stays.
absl::StatusOr<Plan> PlanFor(const CublasLtApi& api, cublasLtHandle_t handle, const PlanKey& key,
                             const Bf16GemmOperands& g, LtDescriptors& d) {
  LtState& state = State();
  {
    std::lock_guard<std::mutex> lock(state.mu);
    if (auto it = state.plans.find(key); it != state.plans.end()) return it->second;
  }
  if (absl::Status s = d.Prefer(g); !s.ok()) return s;
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t status = api.algo_get_heuristic(handle, d.desc(), d.a(), d.b(), d.c(), d.c(),
                                                       d.pref(), 1, &result, &returned);
  Plan plan;
  if (status == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
    plan.found = true;
    plan.algo = result.algo;
    plan.workspace_bytes = result.workspaceSize;
  } else if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED) {
    return FromCublasStatus(
        status, absl::StrCat("cublasLtMatmulAlgoGetHeuristic m=", g.m, " n=", g.n, " k=", g.k));
  }
  std::lock_guard<std::mutex> lock(state.mu);
  return state.plans.emplace(key, plan).first->second;
}

}  // namespace

LtMatmulShape LtShapeFor(const Bf16GemmOperands& g) {
  LtMatmulShape shape;
  // Lt's A is our B: (n, k) row-major = column-major k x n when trans_b, transposed by Lt to
  // n x k; else (k, n) row-major = column-major n x k as it is.
  shape.trans_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  shape.a_rows = static_cast<uint64_t>(g.trans_b ? g.k : g.n);
  shape.a_cols = static_cast<uint64_t>(g.trans_b ? g.n : g.k);
  shape.lda = g.ldb;
  // Lt's B is our A: (m, k) row-major = column-major k x m.
  shape.trans_b = CUBLAS_OP_N;
  shape.b_rows = static_cast<uint64_t>(g.k);
  shape.b_cols = static_cast<uint64_t>(g.m);
  shape.ldb = g.lda;
  shape.c_rows = static_cast<uint64_t>(g.n);
  shape.c_cols = static_cast<uint64_t>(g.m);
  shape.ldc = g.ldc;
  return shape;
}

absl::StatusOr<bool> LtGemmBf16(const Bf16GemmOperands& g, cudaStream_t stream) {
  const absl::StatusOr<const CublasLtApi*> loaded = CublasLt();
  if (!loaded.ok()) return loaded.status();
  const CublasLtApi& api = **loaded;
  int device = 0;
  if (absl::Status s = FromCudaError(cudaGetDevice(&device), "cudaGetDevice"); !s.ok()) return s;
  const absl::StatusOr<cublasLtHandle_t> handle = HandleFor(api, device);
  if (!handle.ok()) return handle.status();

  LtDescriptors d(api);
  if (absl::Status s = d.Describe(g); !s.ok()) return s;
  const bool has_bias = g.bias != nullptr;
  const PlanKey key = {device,
                       g.trans_b,
                       g.m,
                       g.n,
                       g.k,
                       g.lda,
                       g.ldb,
                       g.ldc,
                       has_bias,
                       AlignmentBytes(g.a),
                       AlignmentBytes(g.b),
                       AlignmentBytes(g.c),
                       has_bias ? AlignmentBytes(g.bias) : 0};
  const absl::StatusOr<Plan> plan = PlanFor(api, *handle, key, g, d);
  if (!plan.ok()) return plan.status();
  if (!plan->found) return false;

  // The workspace comes from the stream-ordered pool, like every kernel's scratch here: concurrent
  // streams never share one, no call synchronizes, and the pool hands the same block back to the
  // next GEMM on the stream. The free is queued after the matmul.
  absl::StatusOr<StreamBuffer> workspace = StreamBuffer::Allocate(plan->workspace_bytes, stream);
  if (!workspace.ok()) return workspace.status();
  const cublasStatus_t status =
      api.matmul(*handle, d.desc(), &g.alpha, g.b, d.a(), g.a, d.b(), &g.beta, g.c, d.c(), g.c,
                 d.c(), &plan->algo, workspace->data(), plan->workspace_bytes, stream);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) return false;
  if (absl::Status s =
          FromCublasStatus(status, absl::StrCat("cublasLtMatmul m=", g.m, " n=", g.n, " k=", g.k));
      !s.ok()) {
    return s;
  }
  return true;
}

}  // namespace reel::kernels::cuda::internal
