// The probe and the runtime wrappers must work (or fail with a Status) on machines without a GPU or
// a driver; with a device the RAII owners and copies are exercised for real.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/runtime.h"

namespace reel::kernels::cuda {
namespace {

TEST(CudaProbeTest, ReturnsWithAReasonOrADevice) {
  const CudaProbe probe = ProbeCuda();
  EXPECT_GE(probe.device_count, 0);
  if (probe.device_count == 0) {
    EXPECT_FALSE(probe.why.empty()) << "no device and no reason given";
    EXPECT_TRUE(probe.name.empty()) << probe.name;
  } else {
    EXPECT_TRUE(probe.why.empty()) << probe.why;
    EXPECT_FALSE(probe.name.empty());
  }
  // Probing twice gives the same answer (no sticky error left behind by the first call).
  const CudaProbe again = ProbeCuda();
  EXPECT_EQ(again.device_count, probe.device_count);
  EXPECT_EQ(again.why, probe.why);
}

TEST(CudaStatusTest, MapsRuntimeErrorsToStatusCodes) {
  EXPECT_TRUE(FromCudaError(cudaSuccess, "nothing").ok());
  const absl::Status oom = FromCudaError(cudaErrorMemoryAllocation, "cudaMalloc of 8 bytes");
  EXPECT_EQ(oom.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(oom.message().find("cudaMalloc of 8 bytes"), absl::string_view::npos) << oom;
  EXPECT_NE(oom.message().find("cudaErrorMemoryAllocation"), absl::string_view::npos) << oom;
  EXPECT_EQ(FromCudaError(cudaErrorInvalidValue, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromCudaError(cudaErrorNoDevice, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromCudaError(cudaErrorIllegalAddress, "x").code(), absl::StatusCode::kInternal);

  EXPECT_TRUE(FromCublasStatus(CUBLAS_STATUS_SUCCESS, "gemm").ok());
  const absl::Status bad = FromCublasStatus(CUBLAS_STATUS_INVALID_VALUE, "cublasSgemm m=1");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("cublasSgemm m=1"), absl::string_view::npos) << bad;
  EXPECT_NE(bad.message().find("CUBLAS_STATUS_INVALID_VALUE"), absl::string_view::npos) << bad;
}

// cuBLAS is opened on first use (no GPU needed for that): every function the kernels call resolves.
TEST(CublasApiTest, ResolvesEveryFunctionOnFirstUse) {
  const absl::StatusOr<const CublasApi*> api = Cublas();
  ASSERT_TRUE(api.ok()) << api.status();
  const CublasApi& f = **api;
  for (const void* fn :
       {reinterpret_cast<const void*>(f.create), reinterpret_cast<const void*>(f.destroy),
        reinterpret_cast<const void*>(f.set_stream), reinterpret_cast<const void*>(f.set_math_mode),
        reinterpret_cast<const void*>(f.sgemm),
        reinterpret_cast<const void*>(f.sgemm_strided_batched),
        reinterpret_cast<const void*>(f.gemm_ex), reinterpret_cast<const void*>(f.status_name),
        reinterpret_cast<const void*>(f.status_string)}) {
    EXPECT_NE(fn, nullptr);
  }
  EXPECT_STREQ(f.status_name(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED");
  EXPECT_EQ(*Cublas(), *api) << "loaded once";
}

// Likewise cuBLASLt, which the bf16 GEMM calls.
TEST(CublasApiTest, ResolvesEveryCublasLtFunctionOnFirstUse) {
  const absl::StatusOr<const CublasLtApi*> api = CublasLt();
  ASSERT_TRUE(api.ok()) << api.status();
  const CublasLtApi& f = **api;
  for (const void* fn : {reinterpret_cast<const void*>(f.create),
                         reinterpret_cast<const void*>(f.matmul_desc_create),
                         reinterpret_cast<const void*>(f.matmul_desc_destroy),
                         reinterpret_cast<const void*>(f.matmul_desc_set_attribute),
                         reinterpret_cast<const void*>(f.matrix_layout_create),
                         reinterpret_cast<const void*>(f.matrix_layout_destroy),
                         reinterpret_cast<const void*>(f.preference_create),
                         reinterpret_cast<const void*>(f.preference_destroy),
                         reinterpret_cast<const void*>(f.preference_set_attribute),
                         reinterpret_cast<const void*>(f.algo_get_heuristic),
                         reinterpret_cast<const void*>(f.matmul)}) {
    EXPECT_NE(fn, nullptr);
  }
  EXPECT_EQ(*CublasLt(), *api) << "loaded once";
}

TEST(DeviceBufferTest, EmptyAllocationNeedsNoDevice) {
  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(0);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ(buffer->data(), nullptr);
  EXPECT_EQ(buffer->bytes(), 0u);
}

TEST(DeviceBufferTest, AllocationFailsCleanlyWithoutADevice) {
  const CudaProbe probe = ProbeCuda();
  if (probe.device_count > 0) GTEST_SKIP() << "a device is present: " << probe.name;
  const absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(1024);
  EXPECT_FALSE(buffer.ok());
  EXPECT_FALSE(Stream::Create().ok());
}

TEST(DeviceBufferTest, RoundTripsThroughTheDevice) {
  const CudaProbe probe = ProbeCuda();
  if (probe.device_count == 0) GTEST_SKIP() << "no CUDA device: " << probe.why;
  absl::StatusOr<Stream> stream = Stream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<CublasHandle> cublas = CublasHandle::Create();
  ASSERT_TRUE(cublas.ok()) << cublas.status();
  EXPECT_NE(cublas->get(), nullptr);

  std::vector<int32_t> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<int32_t>(i * 7919 - 12345);
  absl::StatusOr<DeviceBuffer> device = Upload(absl::MakeConstSpan(host), stream->get());
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->bytes(), host.size() * sizeof(int32_t));

  // Moving transfers ownership: the source is left empty and the memory freed exactly once.
  DeviceBuffer moved = std::move(*device);
  EXPECT_EQ(device->data(), nullptr);
  std::vector<int32_t> back(host.size(), 0);
  ASSERT_TRUE(Download(moved, absl::MakeSpan(back), stream->get()).ok());
  EXPECT_EQ(back, host);

  std::vector<int32_t> too_big(host.size() + 1);
  EXPECT_EQ(Download(moved, absl::MakeSpan(too_big), stream->get()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(stream->Synchronize().ok());

  absl::StatusOr<StreamBuffer> scratch = StreamBuffer::Allocate(4096, stream->get());
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  EXPECT_NE(scratch->data(), nullptr);
}

}  // namespace
}  // namespace reel::kernels::cuda
