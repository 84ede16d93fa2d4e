#pragma once
// Helpers shared by the CUDA kernel tests: a fixture that skips without a device and owns a stream
// and a cuBLAS handle, host<->device copies, seeded inputs and tolerance checks against the CPU
// backend.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/cuda/runtime.h"

#define REEL_CUDA_TEST_CONCAT_INNER_(a, b) a##b
#define REEL_CUDA_TEST_CONCAT_(a, b) REEL_CUDA_TEST_CONCAT_INNER_(a, b)

#define ASSERT_STATUS_OK(expr)                                \
  do {                                                        \
    const ::absl::Status reel_test_status_ = (expr);          \
    ASSERT_TRUE(reel_test_status_.ok()) << reel_test_status_; \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(REEL_CUDA_TEST_CONCAT_(reel_status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.status();           \
  lhs = std::move(*tmp)

namespace reel::kernels::cuda::testing {

class CudaKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const CudaProbe probe = ProbeCuda();
    if (probe.device_count == 0) GTEST_SKIP() << "no CUDA device: " << probe.why;
    ASSERT_OK_AND_ASSIGN(stream_, Stream::Create());
    ASSERT_OK_AND_ASSIGN(cublas_, CublasHandle::Create());
  }

  cudaStream_t stream() const { return stream_.get(); }
  cublasHandle_t cublas() const { return cublas_.get(); }

  template <typename T>
  absl::StatusOr<DeviceBuffer> ToDevice(const std::vector<T>& host) {
    return Upload(absl::MakeConstSpan(host), stream());
  }

  // The first n elements of `src` (waits for the stream, so kernels queued before have finished).
  template <typename T>
  absl::StatusOr<std::vector<T>> ToHost(const DeviceBuffer& src, size_t n) {
    std::vector<T> host(n);
    absl::Status status = Download(src, absl::MakeSpan(host), stream());
    if (!status.ok()) return status;
    return host;
  }

 private:
  Stream stream_;
  CublasHandle cublas_;
};

inline std::vector<float> RandomVector(int64_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// |actual - expected| <= abs_tol + rel_tol * |expected| element-wise (a NaN must meet a NaN);
// reports the first few misses and the largest error.
inline void ExpectAllNear(const std::vector<float>& actual, const std::vector<float>& expected,
                          double rel_tol, double abs_tol, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int64_t misses = 0;
  double worst = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    bool ok;
    if (std::isnan(e) || std::isnan(a)) {
      ok = std::isnan(e) && std::isnan(a);
    } else if (std::isinf(e) || std::isinf(a)) {
      ok = a == e;
    } else {
      const double err = std::abs(a - e);
      worst = std::max(worst, err);
      ok = err <= abs_tol + rel_tol * std::abs(e);
    }
    if (!ok && ++misses <= 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected " << e;
    }
  }
  EXPECT_EQ(misses, 0) << what << ": " << misses << " of " << actual.size()
                       << " elements off, largest error " << worst;
}

}  // namespace reel::kernels::cuda::testing
