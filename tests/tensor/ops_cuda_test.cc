// Every tensor op on GPU tensors against the same op on CPU tensors (issue 19): the dispatch layer
// (ops.cc / attention_ops.cc / tensor.cc) over kernels/cuda, including views, in-place ops, casts
// and device copies. f32 results within 1e-5 of the output's scale (cuBLAS and our kernels sum in
// other orders than the CPU), copies and casts bit-exact. Skips without a GPU; the refusal of mixed
// devices and of absent GPUs runs everywhere.
#include <algorithm>
#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/ops.h"

namespace reel {
namespace {

const Device kGpu = Device::Cuda(0);

bool GpuUsable() { return CheckDeviceUsable(kGpu).ok(); }

#define REEL_SKIP_WITHOUT_GPU() \
  if (!GpuUsable()) GTEST_SKIP() << CheckDeviceUsable(kGpu).message()

Tensor Random(Shape shape, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, scale);
  std::vector<float> v(NumElements(shape));
  for (float& x : v) x = n(gen);
  return *Tensor::FromVector(shape, v);
}

Tensor Gpu(const Tensor& t) { return *ToDevice(t, kGpu); }

double RelMaxDiff(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  const std::vector<float> x = *got.ToVector(), y = *want.ToVector();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    diff = std::max(diff, std::abs(double(x[i]) - y[i]));
    scale = std::max(scale, std::abs(double(y[i])));
  }
  return diff / scale;
}

constexpr double kTol = 1e-5;

TEST(OpsCudaErrors, AbsentGpuAndMixedDevicesAreRefused) {
  if (GpuUsable()) {
    const absl::StatusOr<Tensor> mixed = ops::Add(Random({4}, 1), Gpu(Random({4}, 2)));
    ASSERT_FALSE(mixed.ok());
    EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(mixed.status().message().find("cuda:0"), std::string::npos) << mixed.status();
    return;
  }
  const absl::StatusOr<Tensor> moved = ToDevice(Random({4}, 1), kGpu);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(AllocatorFor(kGpu).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Tensor::ZerosOn(kGpu, {3}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(OpsCuda, TensorsMoveViewAndCloneOnTheDevice) {
  REEL_SKIP_WITHOUT_GPU();
  const Tensor x = Random({3, 4, 5}, 1);
  const Tensor g = Gpu(x);
  EXPECT_EQ(g.device(), kGpu);
  EXPECT_EQ(*g.ToVector(), *x.ToVector());
  // A permuted view made contiguous on the device, a slice cloned, zeros.
  const Tensor pc = *x.Permute({2, 0, 1})->Contiguous();
  const Tensor pg = *g.Permute({2, 0, 1})->Contiguous();
  EXPECT_EQ(pg.device(), kGpu);
  EXPECT_EQ(*pg.ToVector(), *pc.ToVector());
  EXPECT_EQ(*g.Slice(1, 1, 3)->Clone()->ToVector(), *x.Slice(1, 1, 3)->Clone()->ToVector());
  const std::vector<float> z = *Tensor::ZerosOn(kGpu, {7})->ToVector();
  EXPECT_TRUE(std::all_of(z.begin(), z.end(), [](float v) { return v == 0.0f; }));
  // Concat along a middle dim and Copy into a strided destination.
  const Tensor y = Random({3, 2, 5}, 2);
  EXPECT_EQ(*ops::Concat({g, Gpu(y)}, 1)->ToVector(), *ops::Concat({x, y}, 1)->ToVector());
  Tensor dst_c = *Tensor::Zeros({3, 4, 5});
  Tensor dst_g = *Tensor::ZerosOn(kGpu, {3, 4, 5});
  Tensor view_c = *dst_c.Slice(1, 0, 2), view_g = *dst_g.Slice(1, 0, 2);
  ASSERT_TRUE(ops::Copy(y, view_c).ok());
  ASSERT_TRUE(ops::Copy(Gpu(y), view_g).ok());
  EXPECT_EQ(*dst_g.ToVector(), *dst_c.ToVector());
}

TEST(OpsCuda, CastsAreBitExact) {
  REEL_SKIP_WITHOUT_GPU();
  const Tensor x = Random({1000}, 3, 100.0f);
  for (DType t : {DType::kBF16, DType::kF16}) {
    const Tensor c = *ops::Cast(x, t), g = *ops::Cast(Gpu(x), t);
    EXPECT_EQ(*g.ToVector(), *c.ToVector());
    EXPECT_EQ(*ops::Cast(g, DType::kF32)->ToVector(), *ops::Cast(c, DType::kF32)->ToVector());
  }
}

TEST(OpsCuda, LinearAndMatmulMatchCpu) {
  REEL_SKIP_WITHOUT_GPU();
  const Tensor x = Random({37, 64}, 4), w = Random({48, 64}, 5, 0.1f), b = Random({48}, 6);
  EXPECT_LE(RelMaxDiff(*ops::Linear(Gpu(x), Gpu(w), nullptr), *ops::Linear(x, w, nullptr)), kTol);
  const Tensor gb = Gpu(b);
  EXPECT_LE(RelMaxDiff(*ops::Linear(Gpu(x), Gpu(w), &gb), *ops::Linear(x, w, &b)), kTol);
  // A bf16 weight: the GPU's tensor-core path rounds x to bf16 too (bf16 has 8 significant bits).
  const Tensor w16 = *ops::Cast(w, DType::kBF16);
  EXPECT_LE(RelMaxDiff(*ops::Linear(Gpu(x), Gpu(w16), &gb), *ops::Linear(x, w16, &b)), 2e-2);
  const Tensor a3 = Random({3, 5, 7}, 7), b3 = Random({3, 9, 7}, 8);
  EXPECT_LE(
      RelMaxDiff(*ops::Matmul(Gpu(a3), Gpu(b3), false, true), *ops::Matmul(a3, b3, false, true)),
      kTol);
}

TEST(OpsCuda, ElementwiseNormsAndActivationsMatchCpu) {
  REEL_SKIP_WITHOUT_GPU();
  const Tensor x = Random({6, 32}, 9), row = Random({1, 32}, 10), col = Random({6, 1}, 11);
  for (ops::BinaryOp op : {ops::BinaryOp::kAdd, ops::BinaryOp::kSub, ops::BinaryOp::kMul}) {
    EXPECT_LE(RelMaxDiff(*ops::Binary(op, Gpu(x), Gpu(row)), *ops::Binary(op, x, row)), kTol);
  }
  Tensor in_c = *x.Clone(), in_g = Gpu(x);
  ASSERT_TRUE(ops::BinaryInPlace(ops::BinaryOp::kMul, in_c, col).ok());
  ASSERT_TRUE(ops::BinaryInPlace(ops::BinaryOp::kMul, in_g, Gpu(col)).ok());
  EXPECT_LE(RelMaxDiff(in_g, in_c), kTol);
  ASSERT_TRUE(ops::Axpby(0.5f, x, 2.0f, in_c).ok());
  ASSERT_TRUE(ops::Axpby(0.5f, Gpu(x), 2.0f, in_g).ok());
  EXPECT_LE(RelMaxDiff(in_g, in_c), kTol);
  const ops::AbsDiffSums s_c = *ops::SumAbsDiff(x, in_c), s_g = *ops::SumAbsDiff(Gpu(x), in_g);
  EXPECT_NEAR(s_g.diff, s_c.diff, 1e-6 * s_c.diff);
  EXPECT_NEAR(s_g.ref, s_c.ref, 1e-6 * s_c.ref);
  for (ops::Activation act : {ops::Activation::kRelu, ops::Activation::kSilu,
                              ops::Activation::kGeluTanh, ops::Activation::kGeluErf}) {
    EXPECT_LE(RelMaxDiff(*ops::Activate(Gpu(x), act), *ops::Activate(x, act)), kTol);
  }
  EXPECT_LE(RelMaxDiff(*ops::SiluGate(Gpu(x)), *ops::SiluGate(x)), kTol);
  const Tensor g = Random({32}, 12), b = Random({32}, 13);
  const Tensor gg = Gpu(g), gb = Gpu(b);
  EXPECT_LE(RelMaxDiff(*ops::LayerNorm(Gpu(x), 1e-6f, &gg, &gb), *ops::LayerNorm(x, 1e-6f, &g, &b)),
            kTol);
  EXPECT_LE(RelMaxDiff(*ops::RmsNorm(Gpu(x), 1e-6f, &gg), *ops::RmsNorm(x, 1e-6f, &g)), kTol);
  EXPECT_LE(RelMaxDiff(*ops::LayerNormModulate(Gpu(x), 1e-6f, gg, gb),
                       *ops::LayerNormModulate(x, 1e-6f, g, b)),
            kTol);
  EXPECT_LE(RelMaxDiff(*ops::Softmax(Gpu(x)), *ops::Softmax(x)), kTol);
}

TEST(OpsCuda, ConvsRopeAndAttentionMatchCpu) {
  REEL_SKIP_WITHOUT_GPU();
  const Tensor img = Random({2, 5, 6, 8}, 14), dw = Random({8, 3, 3}, 15), db = Random({8}, 16);
  const Tensor gdb = Gpu(db);
  EXPECT_LE(RelMaxDiff(*ops::DepthwiseConv2d3x3(Gpu(img), Gpu(dw), &gdb),
                       *ops::DepthwiseConv2d3x3(img, dw, &db)),
            kTol);
  const Tensor frames = Random({3, 10, 8}, 17), hist = Random({2, 10, 8}, 18),
               tw = Random({6, 8, 3}, 19, 0.3f);
  EXPECT_LE(RelMaxDiff(*ops::TemporalConv3(Gpu(frames), Gpu(hist), Gpu(tw), 2),
                       *ops::TemporalConv3(frames, hist, tw, 2)),
            kTol);
  const Tensor q = Random({24, 2 * 16}, 20), k = Random({24, 32}, 21), v = Random({24, 32}, 22);
  const Tensor cs = Random({24, 8}, 23), sn = Random({24, 8}, 24);
  EXPECT_LE(RelMaxDiff(*ops::RopeApply(Gpu(q), Gpu(cs), Gpu(sn), 2), *ops::RopeApply(q, cs, sn, 2)),
            kTol);
  EXPECT_LE(RelMaxDiff(*ops::RopeApplyHalf(Gpu(q), Gpu(cs), Gpu(sn), 2),
                       *ops::RopeApplyHalf(q, cs, sn, 2)),
            kTol);
  std::vector<float> mask(24, 1.0f);
  mask[3] = mask[20] = 0.0f;
  const Tensor m = *Tensor::FromVector({24}, mask), gm = Gpu(m);
  EXPECT_LE(RelMaxDiff(*ops::SoftmaxAttention(Gpu(q), Gpu(k), Gpu(v), &gm, 2, 0.25f),
                       *ops::SoftmaxAttention(q, k, v, &m, 2, 0.25f)),
            kTol);
  ops::AttentionBlocks blocks;
  blocks.block_tokens = 8;
  blocks.causal = true;
  EXPECT_LE(RelMaxDiff(*ops::FlashAttention(Gpu(q), Gpu(k), Gpu(v), &gm, 2, 0.25f, blocks),
                       *ops::FlashAttention(q, k, v, &m, 2, 0.25f, blocks)),
            kTol);
  ops::SparseAttentionOptions sla;
  sla.topk = 0.5f;
  sla.tile_q = 8;
  sla.tile_k = 8;
  ops::SparseAttentionStats st_c, st_g;
  EXPECT_LE(
      RelMaxDiff(*ops::BlockSparseAttention(Gpu(q), Gpu(k), Gpu(v), 2, 0.25f, blocks, sla, &st_g),
                 *ops::BlockSparseAttention(q, k, v, 2, 0.25f, blocks, sla, &st_c)),
      kTol);
  EXPECT_EQ(st_g.tiles_computed, st_c.tiles_computed);
  EXPECT_EQ(ops::SparseTileMap(Gpu(q), Gpu(k), 2, blocks, sla, true)->classes,
            ops::SparseTileMap(q, k, 2, blocks, sla, true)->classes);
  // Linear attention: the state accumulated on the device, then applied.
  Tensor kv_c = *Tensor::Zeros({2, 16, 16}), ks_c = *Tensor::Zeros({2, 16});
  Tensor kv_g = *Tensor::ZerosOn(kGpu, {2, 16, 16}), ks_g = *Tensor::ZerosOn(kGpu, {2, 16});
  const Tensor kr = *ops::Activate(k, ops::Activation::kRelu);
  ASSERT_TRUE(ops::LinearAttentionAccumulate(kr, kr, v, 2, kv_c, ks_c).ok());
  ASSERT_TRUE(ops::LinearAttentionAccumulate(Gpu(kr), Gpu(kr), Gpu(v), 2, kv_g, ks_g).ok());
  EXPECT_LE(RelMaxDiff(kv_g, kv_c), kTol);
  const Tensor qr = *ops::Activate(q, ops::Activation::kRelu);
  EXPECT_LE(RelMaxDiff(*ops::LinearAttentionApply(Gpu(qr), Gpu(qr), kv_g, ks_g, 2, 1e-6f),
                       *ops::LinearAttentionApply(qr, qr, kv_c, ks_c, 2, 1e-6f)),
            kTol);
}

}  // namespace
}  // namespace reel
