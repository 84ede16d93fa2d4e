// Softmax and softmax attention against the CPU backend. Softmax: |err| <= 1e-7 + 1e-5 |ref| (one
// exp and a sum per element). Attention: two f32 GEMMs around it, |err| <= 1e-5 + 1e-4 |ref|.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/softmax.h"
#include "kernels/cuda/softmax.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

constexpr float kInf = std::numeric_limits<float>::infinity();

using CudaSoftmaxTest = CudaKernelTest;

TEST_F(CudaSoftmaxTest, SoftmaxMatchesCpuIncludingInfiniteEntries) {
  for (const int64_t cols : {int64_t{1}, int64_t{33}, int64_t{1000}}) {
    SCOPED_TRACE(cols);
    const int64_t rows = 9;
    std::vector<float> x = RandomVector(rows * cols, 41, -10.0f, 10.0f);
    for (int64_t c = 0; c < cols; ++c) x[c] = -kInf;            // row 0: all -inf
    for (int64_t c = 0; c < cols; c += 2) x[cols + c] = -kInf;  // row 1: some -inf
    std::vector<float> expected(rows * cols);
    cpu::Softmax(x.data(), expected.data(), rows, cols);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
    ASSERT_STATUS_OK(Softmax(dx.as<float>(), dx.as<float>(), rows, cols, stream()));  // in place
    ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dx, rows * cols));
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(y[c], 0.0f) << "all -inf row must give zeros";
    ExpectAllNear(y, expected, 1e-5, 1e-7, "Softmax");
  }
}

TEST_F(CudaSoftmaxTest, SoftmaxCoversMoreRowsThanBlocks) {
  const int64_t rows = 70001, cols = 3;
  const std::vector<float> x = RandomVector(rows * cols, 42, -5.0f, 5.0f);
  std::vector<float> expected(rows * cols);
  cpu::Softmax(x.data(), expected.data(), rows, cols);
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(x.size() * sizeof(float)));
  ASSERT_STATUS_OK(Softmax(dx.as<float>(), dy.as<float>(), rows, cols, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, x.size()));
  ExpectAllNear(y, expected, 1e-5, 1e-7, "Softmax 70001 rows");
}

class CudaAttentionTest : public CudaKernelTest {
 protected:
  static constexpr int64_t kNq = 19, kNk = 23, kHeads = 3, kD = 16;
  static constexpr int64_t kWidth = kHeads * kD;

  // Runs both backends on the same inputs and compares; scratch_bytes < 0 uses the default budget.
  void Check(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
             const std::vector<float>* mask, int64_t scratch_bytes, const char* what) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(kD));
    std::vector<float> expected(kNq * kWidth);
    cpu::SoftmaxAttention(q.data(), k.data(), v.data(), mask ? mask->data() : nullptr, kNq, kNk,
                          kHeads, kD, scale, expected.data());
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dq, ToDevice(q));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dk, ToDevice(k));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dv, ToDevice(v));
    DeviceBuffer dmask;
    if (mask != nullptr) {
      ASSERT_OK_AND_ASSIGN(dmask, ToDevice(*mask));
    }
    // Pre-filled with NaN: every output element must be written.
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dout, ToDevice(std::vector<float>(kNq * kWidth, NAN)));
    const float* m = mask != nullptr ? dmask.as<float>() : nullptr;
    if (scratch_bytes < 0) {
      ASSERT_STATUS_OK(SoftmaxAttention(dq.as<float>(), dk.as<float>(), dv.as<float>(), m, kNq, kNk,
                                        kHeads, kD, scale, dout.as<float>(), cublas(), stream()));
    } else {
      ASSERT_STATUS_OK(SoftmaxAttentionWithScratch(dq.as<float>(), dk.as<float>(), dv.as<float>(),
                                                   m, kNq, kNk, kHeads, kD, scale, dout.as<float>(),
                                                   scratch_bytes, cublas(), stream()));
    }
    ASSERT_OK_AND_ASSIGN(std::vector<float> out, ToHost<float>(dout, expected.size()));
    ExpectAllNear(out, expected, 1e-4, 1e-5, what);
  }
};

TEST_F(CudaAttentionTest, UnmaskedMatchesCpu) {
  const std::vector<float> q = RandomVector(kNq * kWidth, 43, -2.0f, 2.0f);
  const std::vector<float> k = RandomVector(kNk * kWidth, 44, -2.0f, 2.0f);
  const std::vector<float> v = RandomVector(kNk * kWidth, 45);
  Check(q, k, v, nullptr, -1, "attention");
}

TEST_F(CudaAttentionTest, ChunkedOverQueriesMatchesCpu) {
  const std::vector<float> q = RandomVector(kNq * kWidth, 46, -2.0f, 2.0f);
  const std::vector<float> k = RandomVector(kNk * kWidth, 47, -2.0f, 2.0f);
  const std::vector<float> v = RandomVector(kNk * kWidth, 48);
  const int64_t row_bytes = kHeads * kNk * sizeof(float);
  Check(q, k, v, nullptr, 1, "one query per chunk");
  Check(q, k, v, nullptr, 5 * row_bytes, "five queries per chunk (last chunk partial)");
}

TEST_F(CudaAttentionTest, MaskedKeysContributeExactlyNothing) {
  const std::vector<float> q = RandomVector(kNq * kWidth, 49, -2.0f, 2.0f);
  std::vector<float> k = RandomVector(kNk * kWidth, 50, -2.0f, 2.0f);
  std::vector<float> v = RandomVector(kNk * kWidth, 51);
  std::vector<float> mask(kNk, 1.0f);
  for (const int64_t j : {0, 5, 6, 22}) {
    mask[j] = 0.0f;
    // Padding rows may hold anything; none of it may leak into the output.
    for (int64_t c = 0; c < kWidth; ++c) {
      k[j * kWidth + c] = NAN;
      v[j * kWidth + c] = c % 2 == 0 ? kInf : NAN;
    }
  }
  Check(q, k, v, &mask, -1, "masked");
  Check(q, k, v, &mask, 3 * kHeads * kNk * sizeof(float), "masked, chunked");
}

TEST_F(CudaAttentionTest, AllKeysMaskedGivesZeros) {
  const std::vector<float> q = RandomVector(kNq * kWidth, 52);
  const std::vector<float> k = RandomVector(kNk * kWidth, 53);
  const std::vector<float> v = RandomVector(kNk * kWidth, 54);
  const std::vector<float> mask(kNk, 0.0f);
  Check(q, k, v, &mask, -1, "all masked");
}

TEST(CudaSoftmaxArgsTest, RejectsNegativeSizes) {
  EXPECT_EQ(Softmax(nullptr, nullptr, -1, 3, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SoftmaxAttention(nullptr, nullptr, nullptr, nullptr, 2, -1, 1, 4, 1.0f, nullptr,
                             nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Softmax(nullptr, nullptr, 0, 3, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
