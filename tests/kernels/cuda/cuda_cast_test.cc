// f32 <-> f16/bf16 conversions against the CPU backend, bit for bit (round-to-nearest-even,
// denormals, overflow to inf, NaN payloads). Widening is checked on all 65536 bit patterns;
// narrowing on hand-picked edge cases plus random bit patterns spanning every exponent.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/cast.h"
#include "kernels/cuda/cast.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;

using CudaCastTest = CudaKernelTest;

std::vector<float> NarrowingInputs() {
  std::vector<uint32_t> bits = {
      0x00000000u, 0x80000000u,                            // +-0
      0x3F800000u, 0xBF800000u,                            // +-1
      0x3F801000u, 0x3F803000u, 0x3F800FFFu, 0x3F801001u,  // f16 ties (to even), just below/above
      0x3F808000u, 0x3F818000u, 0x3F807FFFu, 0x3F808001u,  // bf16 ties, just below/above
      0x477FE000u, 0x477FEFFFu, 0x477FF000u, 0x47800000u,  // f16 max, last rounding down, -> inf
      0x7F7FFFFFu, 0xFF7FFFFFu,                            // f32 max: bf16 rounds to inf
      0x33800000u, 0x33000000u, 0x33000001u, 0x387FC000u,  // f16 denormals and underflow ties
      0x00000001u, 0x807FFFFFu,                            // f32 denormals
      0x7F800000u, 0xFF800000u,                            // +-inf
      0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x7FA5A5A5u,  // quiet and signalling NaNs, payloads
  };
  std::mt19937 gen(91);
  for (int i = 0; i < 20000; ++i) bits.push_back(gen());
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = std::bit_cast<float>(bits[i]);
  return out;
}

std::vector<uint16_t> AllHalfPatterns() {
  std::vector<uint16_t> out(65536);
  for (uint32_t i = 0; i < 65536; ++i) out[i] = static_cast<uint16_t>(i);
  return out;
}

std::vector<uint32_t> Bits(const std::vector<float>& v) {
  std::vector<uint32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::bit_cast<uint32_t>(v[i]);
  return out;
}

TEST_F(CudaCastTest, NarrowingMatchesCpuBitForBit) {
  const std::vector<float> x = NarrowingInputs();
  const int64_t n = static_cast<int64_t>(x.size());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dx, ToDevice(x));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(x.size() * sizeof(uint16_t)));

  std::vector<uint16_t> expected(n);
  cpu::F32ToF16(x.data(), expected.data(), n);
  ASSERT_STATUS_OK(F32ToF16(dx.as<float>(), dy.as<uint16_t>(), n, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> f16, ToHost<uint16_t>(dy, n));
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(f16[i], expected[i])
        << "F32ToF16 of bits 0x" << std::hex << std::bit_cast<uint32_t>(x[i]);
  }

  cpu::F32ToBf16(x.data(), expected.data(), n);
  ASSERT_STATUS_OK(F32ToBf16(dx.as<float>(), dy.as<uint16_t>(), n, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> bf16, ToHost<uint16_t>(dy, n));
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(bf16[i], expected[i])
        << "F32ToBf16 of bits 0x" << std::hex << std::bit_cast<uint32_t>(x[i]);
  }
}

TEST_F(CudaCastTest, WideningMatchesCpuOnEveryPattern) {
  const std::vector<uint16_t> h = AllHalfPatterns();
  const int64_t n = static_cast<int64_t>(h.size());
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dh, ToDevice(h));
  ASSERT_OK_AND_ASSIGN(DeviceBuffer dy, DeviceBuffer::Allocate(h.size() * sizeof(float)));

  std::vector<float> expected(n);
  cpu::F16ToF32(h.data(), expected.data(), n);
  ASSERT_STATUS_OK(F16ToF32(dh.as<uint16_t>(), dy.as<float>(), n, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> f32, ToHost<float>(dy, n));
  const std::vector<uint32_t> got = Bits(f32), want = Bits(expected);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(got[i], want[i]) << "F16ToF32 of 0x" << std::hex << h[i];
  }

  cpu::Bf16ToF32(h.data(), expected.data(), n);
  ASSERT_STATUS_OK(Bf16ToF32(dh.as<uint16_t>(), dy.as<float>(), n, stream()));
  ASSERT_OK_AND_ASSIGN(std::vector<float> from_bf16, ToHost<float>(dy, n));
  const std::vector<uint32_t> got_bf = Bits(from_bf16), want_bf = Bits(expected);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(got_bf[i], want_bf[i]) << "Bf16ToF32 of 0x" << std::hex << h[i];
  }
}

TEST(CudaCastArgsTest, RejectsNegativeCounts) {
  EXPECT_EQ(F32ToF16(nullptr, nullptr, -1, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Bf16ToF32(nullptr, nullptr, -1, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(F16ToF32(nullptr, nullptr, 0, nullptr).ok());
}

}  // namespace
}  // namespace reel::kernels::cuda
