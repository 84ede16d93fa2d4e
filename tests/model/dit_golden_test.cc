// The C++ DiT, sampler and block-AR loop against the independent PyTorch reference
// (tools/reference), run live by the ctest fixture make_dit_golden (no stored goldens) in float64.
// Bound: max abs error
// <= 1e-4 in f32 (1e-3 for the state sums, whose entries reach ~60).
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/sampler/solver.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/safetensors.h"
#include "tests/model/golden_dir.h"

namespace reel {
namespace {

constexpr double kTolerance = 1e-4;

class DitGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::GoldenDir> dir = testing::LoadGoldenDir(kDir);
    ASSERT_TRUE(dir.ok()) << dir.status() << " (run through ctest: make_dit_golden writes it)";
    golden_ = std::move(dir->golden);
    config_ = dir->config;
    dit_ = std::move(dir->dit);
    bf_ = std::stoi(golden_.metadata.at("block_frames"));
    t_ = (*G("input.timestep").ToVector())[0];
    cond_ = *dit_->PrepareCaption(Drop(G("input.caption")), Drop(G("input.caption_mask")));
    uncond_ =
        *dit_->PrepareCaption(Drop(G("input.neg_caption")), Drop(G("input.neg_caption_mask")));
  }

  Tensor G(const std::string& name) {
    auto it = golden_.tensors.find(name);
    EXPECT_NE(it, golden_.tensors.end()) << "golden has no " << name;
    return it == golden_.tensors.end() ? Tensor() : it->second;
  }
  // Drops the batch dim of 1.
  static Tensor Drop(const Tensor& t) {
    Shape s(t.shape().begin() + 1, t.shape().end());
    return *t.Reshape(s);
  }
  static void ExpectClose(const Tensor& got, const Tensor& want, const char* what,
                          double tol = kTolerance) {
    ASSERT_EQ(got.numel(), want.numel())
        << what << ": " << ShapeString(got.shape()) << " vs " << ShapeString(want.shape());
    const std::vector<float> a = *got.ToVector(), b = *want.ToVector();
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      max_err = std::max(max_err, std::abs(double(a[i]) - b[i]));
      max_ref = std::max(max_ref, std::abs(double(b[i])));
    }
    EXPECT_LE(max_err, tol) << what << " (max |ref| " << max_ref << ")";
    RecordProperty(what, absl::StrCat(max_err));
    std::printf("  %-28s max abs err %.3g (max |ref| %.3g)\n", what, max_err, max_ref);
  }
  SamplingParams Sampling(const std::string& solver) const {
    return {std::stoi(golden_.metadata.at("steps")), std::stod(golden_.metadata.at("cfg")), solver,
            std::stod(golden_.metadata.at("flow_shift"))};
  }

  static constexpr const char* kDir = REEL_DIT_GOLDEN;
  SafetensorsFile golden_;
  ModelConfig config_;
  std::unique_ptr<Dit> dit_;
  PreparedCaption cond_, uncond_;
  int bf_ = 0;
  float t_ = 0;
};

TEST_F(DitGoldenTest, Embeddings) {
  ExpectClose(*dit_->PatchEmbed(Drop(G("input.latents"))), G("stage.patch_embed"), "patch_embed");
  const TimestepEmbedding e = *dit_->EmbedTimestep(t_);
  ExpectClose(e.embedded, G("stage.embedded_timestep"), "embedded_timestep");
  ExpectClose(e.t6, G("stage.timestep6"), "timestep6");
  ExpectClose(cond_.projected, G("stage.caption"), "caption");
}

TEST_F(DitGoldenTest, FirstBlock) {
  const Tensor latents = Drop(G("input.latents"));
  const DitConfig& c = config_.transformer;
  const int64_t f = latents.dim(1) / c.patch_size[0], h = latents.dim(2) / c.patch_size[1],
                w = latents.dim(3) / c.patch_size[2];
  Tensor tokens = *dit_->PatchEmbed(latents)->Reshape({f, h * w, c.hidden_size});
  ASSERT_TRUE(dit_->ApplyBlock(0, t_, cond_, h, w, tokens).ok());
  ExpectClose(tokens, G("stage.block0.out"), "block0");
}

TEST_F(DitGoldenTest, FullForward) {
  const Tensor latents = Drop(G("input.latents"));
  ExpectClose(*dit_->Forward(latents, {t_}, cond_, ForwardOptions{}), G("output.velocity"),
              "velocity");
  ForwardOptions causal;
  causal.causal_block_frames = bf_;
  ExpectClose(*dit_->Forward(latents, {t_}, cond_, causal), G("output.velocity_causal"),
              "velocity_causal");
  const std::vector<float> per_frame = *Drop(G("input.timestep_perframe")).ToVector();
  ExpectClose(*dit_->Forward(latents, per_frame, cond_, causal), G("output.velocity_perframe"),
              "velocity_perframe");
}

TEST_F(DitGoldenTest, BlockStateAndNextBlock) {
  const Tensor latents = Drop(G("input.latents"));
  const int64_t pt = config_.transformer.patch_size[0];
  const int64_t spatial = (latents.dim(2) / config_.transformer.patch_size[1]) *
                          (latents.dim(3) / config_.transformer.patch_size[2]);
  ModelState state = *dit_->NewState(spatial);
  ForwardOptions o;
  o.state = &state;
  o.update_state = true;
  ASSERT_TRUE(dit_->Forward(*latents.Slice(1, 0, bf_ * pt), {0.0f}, cond_, o).ok());
  for (size_t l = 0; l < state.size(); ++l) {
    ExpectClose(state[l].kv, G(absl::StrCat("state.layer", l, ".kv")), "state.kv", 1e-3);
    ExpectClose(state[l].ksum, G(absl::StrCat("state.layer", l, ".ksum")), "state.ksum", 1e-3);
    ExpectClose(state[l].conv_tail, G(absl::StrCat("state.layer", l, ".conv_tail")),
                "state.conv_tail");
  }
  o.update_state = false;
  o.frame_offset = bf_;
  ExpectClose(*dit_->Forward(*latents.Slice(1, bf_ * pt, 2 * bf_ * pt), {t_}, cond_, o),
              G("output.velocity_ar_block1"), "velocity_ar_block1");
}

TEST_F(DitGoldenTest, Sampling) {
  const Tensor noise = Drop(G("sample.noise"));
  ForwardOptions causal;
  causal.causal_block_frames = bf_;
  SamplingParams one = Sampling("euler");
  // One step of the same 4-step schedule: run the loop and stop after the first step.
  absl::StatusOr<Tensor> partial =
      Denoise(*dit_, noise, cond_, &uncond_, one, causal, [](int step, int) { return step < 1; });
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kCancelled);
  ExpectClose(*Denoise(*dit_, noise, cond_, &uncond_, Sampling("euler"), causal),
              G("sample.euler4"), "euler4");
  ExpectClose(*Denoise(*dit_, noise, cond_, &uncond_, Sampling("dpm++2m"), causal),
              G("sample.dpm4"), "dpm4");
}

TEST_F(DitGoldenTest, FirstEulerStep) {
  const Tensor noise = Drop(G("sample.noise"));
  ForwardOptions causal;
  causal.causal_block_frames = bf_;
  SamplingParams p = Sampling("euler");
  std::unique_ptr<FlowSolver> solver = *MakeFlowSolver("euler", p.steps, p.flow_shift);
  Tensor x = *noise.Clone();
  const float t0 = static_cast<float>(1000.0 * solver->sigma(0));
  Tensor v = *dit_->Forward(x, {t0}, cond_, causal);
  ASSERT_TRUE(CombineGuidance(*dit_->Forward(x, {t0}, uncond_, causal), p.cfg_scale, v).ok());
  ASSERT_TRUE(solver->Step(0, v, x).ok());
  ExpectClose(x, G("sample.euler_step1"), "euler_step1");
}

TEST_F(DitGoldenTest, BlockAutoregressiveGeneration) {
  const Tensor noise = Drop(G("sample.noise"));
  BlockGenerationParams p;
  p.sampling = Sampling("euler");
  p.latent_frames = noise.dim(1);
  p.latent_height = noise.dim(2);
  p.latent_width = noise.dim(3);
  p.block_frames = bf_;
  std::vector<Tensor> blocks;
  ASSERT_TRUE(
      GenerateBlocks(
          *dit_, cond_, &uncond_, p,
          [&](int64_t first, int64_t n) { return noise.Slice(1, first, first + n)->Clone(); },
          [&](int64_t, const Tensor& b) {
            blocks.push_back(*b.Clone());
            return absl::OkStatus();
          })
          .ok());
  ExpectClose(*ops::Concat(blocks, 1), G("sample.ar_euler4"), "ar_euler4");
}

}  // namespace
}  // namespace reel
