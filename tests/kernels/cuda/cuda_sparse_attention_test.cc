// Flash attention, SLA's block map and block-sparse attention on the GPU against the CPU backend
// (kernels/cpu/sparse_attention.h, itself checked against double oracles). Attention: f32 with a
// different summation order, |err| <= 1e-5 + 1e-4 |ref| (as cuda_softmax_test); the block map
// must be identical on these random inputs (no near-ties at f32 resolution).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/sparse_attention.h"
#include "kernels/cuda/sparse_attention.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/sparse_attention_reference.h"

namespace reel::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::ExpectAllNear;
using testing::RandomVector;

using Case = cpu::reference::AttentionCase;
using cpu::reference::Causal;

std::vector<Case> Cases() {
  return {
      {37, 37, 2, 8, {}, 13, 16, "bidirectional, partial tiles, d 8, tile_q 13 (a partial warp)"},
      {64, 200, 3, 72, {}, 32, 64, "nq != nk, d 72"},
      {90, 90, 2, 64, Causal(30), 16, 24, "block-causal, tiles cut blocks"},
      {90, 90, 2, 128, Causal(30, 2), 64, 16, "window 2, d 128"},
      {40, 120, 2, 200, Causal(40, 2, 3, 1), 16, 32, "window 2, offsets, d 200"},
      {1000, 1000, 2, 64, {}, 64, 64, "16 x 16 tiles"},
      {300, 300, 1, 256, Causal(100), 128, 64, "d 256, tile_q 128"},
  };
}

class CudaSparseAttentionTest : public CudaKernelTest {
 protected:
  struct Inputs {
    std::vector<float> q, k, v;
    DeviceBuffer dq, dk, dv;
  };

  void Make(const Case& c, uint32_t seed, Inputs& in) {
    const int64_t w = c.heads * c.d;
    in.q = RandomVector(c.nq * w, seed, -2.0f, 2.0f);
    in.k = RandomVector(c.nk * w, seed + 1);
    in.v = RandomVector(c.nk * w, seed + 2);
    ASSERT_OK_AND_ASSIGN(in.dq, ToDevice(in.q));
    ASSERT_OK_AND_ASSIGN(in.dk, ToDevice(in.k));
    ASSERT_OK_AND_ASSIGN(in.dv, ToDevice(in.v));
  }
};

TEST_F(CudaSparseAttentionTest, FlashMatchesCpuWithMasks) {
  uint32_t seed = 1;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Inputs in;
    Make(c, seed += 3, in);
    std::vector<float> mask(c.nk, 1.0f);
    for (int64_t j = 1; j < c.nk; j += 4) mask[j] = 0.0f;
    for (int64_t j = 1; j < c.nk; j += 4) in.v[j * c.heads * c.d] = NAN;  // must not leak
    ASSERT_OK_AND_ASSIGN(in.dv, ToDevice(in.v));
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dmask, ToDevice(mask));
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
    std::vector<float> want(c.nq * c.heads * c.d);
    cpu::FlashAttention(in.q.data(), in.k.data(), in.v.data(), mask.data(), c.nq, c.nk, c.heads,
                        c.d, scale, c.blocks, 32, 32, want.data());
    ASSERT_OK_AND_ASSIGN(DeviceBuffer dout, ToDevice(std::vector<float>(want.size(), NAN)));
    ASSERT_STATUS_OK(FlashAttention(in.dq.as<float>(), in.dk.as<float>(), in.dv.as<float>(),
                                    dmask.as<float>(), c.nq, c.nk, c.heads, c.d, scale, c.blocks,
                                    c.tile_q, c.tile_k, dout.as<float>(), stream()));
    ASSERT_OK_AND_ASSIGN(std::vector<float> got, ToHost<float>(dout, want.size()));
    ExpectAllNear(got, want, 1e-4, 1e-5, "flash, key mask");
  }
}

TEST_F(CudaSparseAttentionTest, TileMapAndBlockSparseMatchCpu) {
  uint32_t seed = 100;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Inputs in;
    Make(c, seed += 3, in);
    const int64_t qt = cpu::TileCount(c.nq, c.tile_q), kt = cpu::TileCount(c.nk, c.tile_k);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
    for (const float topk : {0.0f, 0.2f, 0.5f, 1.0f}) {
      SCOPED_TRACE(topk);
      const SparseAttentionOptions options{topk, c.tile_q, c.tile_k};
      std::vector<uint8_t> want_map(c.heads * qt * kt);
      cpu::SparseTileMap(in.q.data(), in.k.data(), c.nq, c.nk, c.heads, c.d, c.blocks, options,
                         true, want_map.data());
      ASSERT_OK_AND_ASSIGN(DeviceBuffer dmap, DeviceBuffer::Allocate(want_map.size()));
      ASSERT_STATUS_OK(SparseTileMap(in.dq.as<float>(), in.dk.as<float>(), c.nq, c.nk, c.heads, c.d,
                                     c.blocks, options, true, dmap.as<uint8_t>(), stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> map, ToHost<uint8_t>(dmap, want_map.size()));
      EXPECT_EQ(map, want_map);
      std::vector<float> want(c.nq * c.heads * c.d);
      cpu::BlockSparseAttention(in.q.data(), in.k.data(), in.v.data(), want_map.data(), c.nq, c.nk,
                                c.heads, c.d, scale, c.blocks, c.tile_q, c.tile_k, want.data());
      ASSERT_OK_AND_ASSIGN(DeviceBuffer dwant_map, ToDevice(want_map));
      ASSERT_OK_AND_ASSIGN(DeviceBuffer dout, ToDevice(std::vector<float>(want.size(), NAN)));
      ASSERT_STATUS_OK(BlockSparseAttention(
          in.dq.as<float>(), in.dk.as<float>(), in.dv.as<float>(), dwant_map.as<uint8_t>(), c.nq,
          c.nk, c.heads, c.d, scale, c.blocks, c.tile_q, c.tile_k, dout.as<float>(), stream()));
      ASSERT_OK_AND_ASSIGN(std::vector<float> got, ToHost<float>(dout, want.size()));
      ExpectAllNear(got, want, 1e-4, 1e-5, "block-sparse on the CPU's map");
    }
  }
}

// Runs everywhere: arguments are checked before anything touches the device.
TEST(CudaSparseAttentionArgsTest, RejectsSizesTheKernelsDoNotTake) {
  const AttentionBlocks none;
  EXPECT_EQ(FlashAttention(nullptr, nullptr, nullptr, nullptr, 4, 4, 1, kMaxAttentionHeadDim + 1,
                           1.0f, none, 64, 64, nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlashAttention(nullptr, nullptr, nullptr, nullptr, 4, 4, 1, 64, 1.0f, none,
                           kMaxAttentionTileQ + 1, 64, nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BlockSparseAttention(nullptr, nullptr, nullptr, nullptr, 4, 4, 1, 64, 1.0f, none, 64,
                                 64, nullptr, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      SparseTileMap(nullptr, nullptr, 4, 4, 1, 64, none, {0.1f, 0, 64}, true, nullptr, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      SparseTileMap(nullptr, nullptr, 4, 4, 1, 64, none, {-1.0f, 64, 64}, true, nullptr, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reel::kernels::cuda
