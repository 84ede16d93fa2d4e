// Broadcast arithmetic, Axpby and strided copies against the CPU backend. Binary ops and copies are
// exact (one correctly rounded IEEE operation, or no arithmetic), so results must be bit-identical;
// Axpby may fuse into an FMA on the GPU: |err| <= 1e-6 + 1e-6 |ref|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

using CudaElementwiseTest = CudaKernelTest;

void ExpectBitEqual(const std::vector<float>& actual, const std::vector<float>& expected,
                    const char* what) {
  ASSERT_EQ(actual.size(), expected.size());
  int misses = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (std::memcmp(&actual[i], &expected[i], sizeof(float)) != 0 && ++misses <= 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected "
                    << expected[i];
    }
  }
  EXPECT_EQ(misses, 0) << what;
}

TEST_F(CudaElementwiseTest, BinaryBroadcastMatchesCpuForEveryOp) {
  // out (2, 3, 4, 5); a is a transposed view of a contiguous (5, 4, 3, 2) array; b is (3, 5)
  // broadcast over dimensions 0 and 2.
  const int64_t shape[] = {2, 3, 4, 5};
  const int64_t a_strides[] = {1, 2, 6, 24};
  const int64_t b_strides[] = {0, 5, 0, 1};
  const std::vector<float> a = RandomVector(120, 11);
  const std::vector<float> b = RandomVector(15, 12, 0.5f, 2.0f);  // away from zero for kDiv
  ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dout, DeviceBuffer::Allocate(120 * sizeof(float)));
  for (const BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv}) {
    SCOPED_TRACE(static_cast<int>(op));
    std::vector<float> expected(120);
    cpu::BinaryBroadcast(op, 4, shape, a.data(), a_strides, b.data(), b_strides, expected.data());
    ASSERT_STATUS_OK(BinaryBroadcast(op, 4, shape, da.as<float>(), a_strides, db.as<float>(),
                                     b_strides, dout.as<float>(), stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> out, ToHost<float>(dout, 120));
    ExpectBitEqual(out, expected, "BinaryBroadcast");
  }
}

TEST_F(CudaElementwiseTest, BinaryBroadcastRankEightScalarAndInPlace) {
  // Rank 8 with size-1 and broadcast dimensions mixed in.
  const int64_t shape[8] = {2, 1, 3, 2, 1, 2, 3, 2};
  int64_t a_strides[8], b_strides[8];
  int64_t stride = 1;
  for (int d = 7; d >= 0; --d) {
    a_strides[d] = stride;
    stride *= shape[d];
  }
  const int64_t n = stride;
  const int64_t b_shape[8] = {1, 1, 3, 1, 1, 2, 1, 2};  // broadcast where 1
  stride = 1;
  for (int d = 7; d >= 0; --d) {
    b_strides[d] = b_shape[d] == 1 ? 0 : stride;
    stride *= b_shape[d];
  }
  const std::vector<float> a = RandomVector(n, 13);
  const std::vector<float> b = RandomVector(stride, 14);
  std::vector<float> expected(n);
  cpu::BinaryBroadcast(BinaryOp::kMul, 8, shape, a.data(), a_strides, b.data(), b_strides,
                       expected.data());
  // out aliases a (element i of out is element i of a): allowed.
  ASSERT_OK_AND_ASSIGN(DeviceBuffer da, ToDevice(a));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer db, ToDevice(b));
  ASSERT_STATUS_OK(BinaryBroadcast(BinaryOp::kMul, 8, shape, da.as<float>(), a_strides,
                                   db.as<float>(), b_strides, da.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> out, ToHost<float>(da, n));
  ExpectBitEqual(out, expected, "BinaryBroadcast rank 8 in place");

  // Rank 0: one element.
  ASSERT_STATUS_OK(BinaryBroadcast(BinaryOp::kSub, 0, nullptr, da.as<float>(), nullptr,
                                   db.as<float>(), nullptr, da.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> scalar, ToHost<float>(da, 1));
  EXPECT_EQ(scalar[0], expected[0] - b[0]);
}

TEST_F(CudaElementwiseTest, AxpbyMatchesCpuAndIgnoresYWhenBetaIsZero) {
  const int64_t n = 100003;
  const std::vector<float> x = RandomVector(n, 15), y0 = RandomVector(n, 16);
  std::vector<float> expected = y0;
  cpu::Axpby(n, 0.75f, x.data(), -1.25f, expected.data());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, ToDevice(y0));
  ASSERT_STATUS_OK(Axpby(n, 0.75f, dx.as<float>(), -1.25f, dy.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> y, ToHost<float>(dy, n));
  ExpectAllNear(y, expected, 1e-6, 1e-6, "Axpby");

  ASSERT_OK_AND_ASSIGN(DeviceBuffer dnan,
                       ToDevice(std::vector<float>(n, std::numeric_limits<float>::quiet_NaN())));
  ASSERT_STATUS_OK(Axpby(n, 2.0f, dx.as<float>(), 0.0f, dnan.as<float>(), stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> scaled, ToHost<float>(dnan, n));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(scaled[i], 2.0f * x[i]) << i;
}

// Copies a (3, 4, 5) array transposed to (5, 3, 4) order into a destination with row gaps, for each
// element size (3 goes through the byte-wise path); the gaps must keep their contents.
TEST_F(CudaElementwiseTest, StridedCopyMatchesCpuForEveryElementSize) {
  const int64_t shape[] = {3, 4, 5};
  const int64_t src_strides[] = {20, 5, 1};  // contiguous source
  const int64_t dst_strides[] = {5, 1,
                                 3 * 6};  // dst (5, 3, 6): element (i, j, k) at k*18 + i*5 + j
  const int64_t dst_elems = 5 * 18;
  for (const int elem_bytes : {1, 2, 3, 4, 8, 16}) {
    SCOPED_TRACE(elem_bytes);
    std::vector<uint8_t> src(60 * elem_bytes), expected(dst_elems * elem_bytes);
    std::iota(src.begin(), src.end(), uint8_t{7});
    std::fill(expected.begin(), expected.end(), uint8_t{0xA5});
    const std::vector<uint8_t> dst0 = expected;
    cpu::StridedCopy(3, shape, src.data(), src_strides, expected.data(), dst_strides, elem_bytes);
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dsrc, ToDevice(src));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer ddst, ToDevice(dst0));
    ASSERT_STATUS_OK(StridedCopy(3, shape, dsrc.data(), src_strides, ddst.data(), dst_strides,
                                 elem_bytes, stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> dst, ToHost<uint8_t>(ddst, expected.size()));
    EXPECT_EQ(dst, expected);
  }
}

TEST(CudaElementwiseArgsTest, RejectsBadRankSizeAndElementSize) {
  const int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const int64_t strides[9] = {};
  EXPECT_EQ(BinaryBroadcast(BinaryOp::kAdd, 9, shape, nullptr, strides, nullptr, strides, nullptr,
                            nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  const int64_t negative[] = {2, -1};
  EXPECT_EQ(StridedCopy(2, negative, nullptr, strides, nullptr, strides, 4, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StridedCopy(1, shape, nullptr, strides, nullptr, strides, 0, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Axpby(-1, 1.0f, nullptr, 1.0f, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // Zero elements: OK without touching the (absent) device.
  const int64_t empty[] = {3, 0};
  EXPECT_TRUE(StridedCopy(2, empty, nullptr, strides, nullptr, strides, 4, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
