// The `softmax` and `sparse_linear` attention kinds of the C++ DiT against the PyTorch reference
// (tools/reference/make_attention_golden.py, run live by the ctest fixtures, computed in float64):
// bidirectional, block-causal with a window, and block-AR generation with the kept window against
// the reference's full block-causal forward. Bound: max abs error <= 1e-4 in f32.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/tensor/safetensors.h"

namespace reel {
namespace {

constexpr double kTolerance = 1e-4;

Tensor Drop(const Tensor& t) {  // drops the batch dim of 1
  return *t.Reshape(Shape(t.shape().begin() + 1, t.shape().end()));
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel()) << ShapeString(a.shape()) << " vs " << ShapeString(b.shape());
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    m = std::max(m, std::abs(double(x[i]) - y[i]));
  return m;
}

class AttentionKindTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(REEL_ATTENTION_GOLDEN, "_", GetParam());
    absl::StatusOr<SafetensorsFile> g = ReadSafetensors(dir_ + "/golden.safetensors");
    ASSERT_TRUE(g.ok()) << g.status() << " (run through ctest: a fixture writes it)";
    golden_ = *std::move(g);
    absl::StatusOr<ModelConfig> config = LoadModelConfig(dir_ + "/model");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = config->transformer;
    absl::StatusOr<WeightStore> w = WeightStore::Open(dir_ + "/model/transformer.safetensors");
    ASSERT_TRUE(w.ok()) << w.status();
    absl::StatusOr<Dit> dit = Dit::Load(config_, *w);
    ASSERT_TRUE(dit.ok()) << dit.status();
    dit_ = std::make_unique<Dit>(*std::move(dit));
    caption_ = *dit_->PrepareCaption(Drop(G("input.caption")), Drop(G("input.caption_mask")));
    latents_ = Drop(G("input.latents"));
    t_ = (*G("input.timestep").ToVector())[0];
  }
  Tensor G(const std::string& name) const { return golden_.tensors.at(name); }

  std::string dir_;
  SafetensorsFile golden_;
  DitConfig config_;
  std::unique_ptr<Dit> dit_;
  PreparedCaption caption_;
  Tensor latents_;
  float t_ = 0;
};

TEST_P(AttentionKindTest, BidirectionalAndBlockCausalForwards) {
  absl::StatusOr<Tensor> v = dit_->Forward(latents_, {t_}, caption_, ForwardOptions{});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_LE(MaxAbsDiff(*v, Drop(G("output.velocity"))), kTolerance) << "bidirectional";
  ForwardOptions causal;
  causal.causal_block_frames = config_.block_frames;
  v = dit_->Forward(latents_, {t_}, caption_, causal);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_LE(MaxAbsDiff(*v, Drop(G("output.velocity_causal"))), kTolerance) << "block-causal";
  const std::vector<float> per_frame = *Drop(G("input.timestep_perframe")).ToVector();
  v = dit_->Forward(latents_, per_frame, caption_, causal);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_LE(MaxAbsDiff(*v, Drop(G("output.velocity_perframe"))), kTolerance) << "per frame";
}

// Block-AR generation keeps the window's keys and values: after the clean passes over blocks 0-2,
// block 3 must equal the reference's full block-causal forward, and the kept keys stay at
// (window − 1) blocks whatever the number of blocks before.
TEST_P(AttentionKindTest, BlockAutoregressiveWithTheWindowEqualsTheFullForward) {
  const int bf = config_.block_frames;
  const int64_t frames = latents_.dim(1), spatial = (latents_.dim(2) / 2) * (latents_.dim(3) / 2);
  ModelState state = *dit_->NewState(spatial);
  ForwardOptions o;
  o.state = &state;
  o.update_state = true;
  for (int64_t f0 = 0; f0 + bf < frames; f0 += bf) {
    o.frame_offset = f0;
    ASSERT_TRUE(dit_->Forward(*latents_.Slice(1, f0, f0 + bf), {0.0f}, caption_, o).ok());
    const int64_t blocks = f0 / bf + 1;
    EXPECT_EQ(state[0].win_k.dim(0),
              std::min<int64_t>(blocks, config_.attention_window - 1) * bf * spatial);
  }
  EXPECT_LE(MaxAbsDiff(state[0].win_k, G("state.layer0.win_k")), kTolerance) << "kept keys";
  o.update_state = false;
  o.frame_offset = frames - bf;
  absl::StatusOr<Tensor> v =
      dit_->Forward(*latents_.Slice(1, frames - bf, frames), {t_}, caption_, o);
  ASSERT_TRUE(v.ok()) << v.status();
  const Tensor want = *Drop(G("output.velocity_perframe")).Slice(1, frames - bf, frames);
  EXPECT_LE(MaxAbsDiff(*v, want), kTolerance);
}

// Classifier-free guidance batches the branches through one forward: each branch must equal its
// own forward (the window is shared, read-only).
TEST_P(AttentionKindTest, GuidanceBranchesEqualSeparateForwards) {
  const PreparedCaption other =
      *dit_->PrepareCaption(*Drop(G("input.caption")).Slice(0, 0, 3),
                            *Tensor::FromVector({3}, std::vector<float>{1, 1, 0}));
  const PreparedCaption* both[] = {&caption_, &other};
  ForwardOptions causal;
  causal.causal_block_frames = config_.block_frames;
  absl::StatusOr<std::vector<Tensor>> batched = dit_->ForwardBranches(latents_, {t_}, both, causal);
  ASSERT_TRUE(batched.ok()) << batched.status();
  for (int b = 0; b < 2; ++b) {
    absl::StatusOr<Tensor> alone = dit_->Forward(latents_, {t_}, *both[b], causal);
    ASSERT_TRUE(alone.ok()) << alone.status();
    EXPECT_LE(MaxAbsDiff((*batched)[b], *alone), 1e-5) << "branch " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, AttentionKindTest, ::testing::Values("softmax", "sparse_linear"));

}  // namespace
}  // namespace reel
