// Bidirectional (full-sequence) sampling of a centered-conv model against the PyTorch reference of
// the SANA-Video pipeline loop with diffusers' DPMSolverMultistepScheduler (flow sigmas, shift 8,
// 1000 training timesteps; tools/reference/reel_ref/dpm_flow.py), run live by the ctest fixture
// make_sequence_golden. Bound: max abs error <= 1e-4 in f32 (the reference is float64).
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/generate/denoise.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/sampler/solver.h"
#include "pipeline/tensor/safetensors.h"
#include "tests/model/golden_dir.h"

namespace reel {
namespace {

constexpr double kTolerance = 1e-4;
constexpr const char* kDir = REEL_SEQUENCE_GOLDEN;

Tensor DropBatch(const Tensor& t) {
  Shape s(t.shape().begin() + 1, t.shape().end());
  return *t.Reshape(s);
}

double MaxAbsDiff(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.numel(), want.numel());
  const std::vector<float> a = *got.ToVector(), b = *want.ToVector();
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    m = std::max(m, std::abs(double(a[i]) - b[i]));
  }
  return m;
}

class SequenceGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::GoldenDir> dir = testing::LoadGoldenDir(kDir);
    ASSERT_TRUE(dir.ok()) << dir.status() << " (run through ctest: make_sequence_golden writes it)";
    golden_ = std::move(dir->golden);
    config_ = dir->config;
    dit_ = std::move(dir->dit);
    cond_ =
        *dit_->PrepareCaption(DropBatch(G("input.caption")), DropBatch(G("input.caption_mask")));
    uncond_ = *dit_->PrepareCaption(DropBatch(G("input.neg_caption")),
                                    DropBatch(G("input.neg_caption_mask")));
    noise_ = DropBatch(G("input.noise"));
  }
  Tensor G(const std::string& name) const { return golden_.tensors.at(name); }

  BlockGenerationParams Params(const std::string& solver) const {
    BlockGenerationParams p;
    const SamplerConfig& s = config_.sampler;
    p.sampling = {s.steps, s.cfg_scale, solver, s.flow_shift, s.num_train_timesteps};
    p.latent_frames = noise_.dim(1);
    p.latent_height = noise_.dim(2);
    p.latent_width = noise_.dim(3);
    p.block_frames = 0;
    return p;
  }
  NoiseSource Noise() const {
    return [this](int64_t first, int64_t frames) { return noise_.Slice(1, first, first + frames); };
  }

  SafetensorsFile golden_;
  ModelConfig config_;
  std::unique_ptr<Dit> dit_;
  PreparedCaption cond_, uncond_;
  Tensor noise_;
};

TEST_F(SequenceGoldenTest, ConfigIsBidirectionalWithTheOfficialSchedule) {
  EXPECT_TRUE(config_.transformer.bidirectional());
  EXPECT_EQ(config_.sampler.num_train_timesteps, 1000);
}

TEST_F(SequenceGoldenTest, ScheduleIsDiffusers) {
  const SamplerConfig& s = config_.sampler;
  auto solver = *MakeFlowSolver("dpm++2m", s.steps, s.flow_shift, s.num_train_timesteps);
  const std::vector<float> sigmas = *G("schedule.sigmas").ToVector();
  const std::vector<float> timesteps = *G("schedule.timesteps").ToVector();
  ASSERT_EQ(solver->steps() + 1, static_cast<int>(sigmas.size()));
  for (int i = 0; i <= solver->steps(); ++i) {
    EXPECT_EQ(static_cast<float>(solver->sigma(i)), sigmas[i]) << "sigma " << i;
  }
  for (int i = 0; i < solver->steps(); ++i) {
    EXPECT_EQ(solver->timestep(i), timesteps[i]) << "timestep " << i;  // integers, exact
  }
  EXPECT_LT(solver->sigma(0), 1.0);  // diffusers starts at shift(1 − 1/1000), not at σ = 1
}

// solver_order 2 is reel's dpm++2m; solver_order 1 is exactly reel's euler step.
TEST_F(SequenceGoldenTest, FullSequenceSamplingMatchesReference) {
  for (const auto& [solver, golden] :
       {std::pair<std::string, std::string>{"dpm++2m", "sample.order2"},
        {"euler", "sample.order1"}}) {
    absl::StatusOr<Tensor> x = GenerateSequence(*dit_, cond_, &uncond_, Params(solver), Noise());
    ASSERT_TRUE(x.ok()) << x.status();
    const double err = MaxAbsDiff(*x, DropBatch(G(golden)));
    std::printf("  %s (%s) max abs err %.3g\n", solver.c_str(), golden.c_str(), err);
    EXPECT_LE(err, kTolerance) << solver;
  }
}

TEST_F(SequenceGoldenTest, RefusesMoreFramesThanTheRopeTables) {
  DitConfig c = config_.transformer;
  c.rope_max_seq_len = 4;  // the golden video has 5 latent token frames
  WeightStore w = *WeightStore::Open(std::string(kDir) + "/model/transformer.safetensors");
  const Dit short_dit = *Dit::Load(c, w);
  absl::StatusOr<Tensor> x =
      GenerateSequence(short_dit, cond_, &uncond_, Params("dpm++2m"), Noise());
  EXPECT_EQ(x.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(x.status().message().find("rope_max_seq_len (4)"), std::string::npos) << x.status();
}

TEST_F(SequenceGoldenTest, CausalModelsAreNotSampledAsOneSequence) {
  DitConfig c = config_.transformer;
  c.temporal_conv = TemporalConvMode::kCausal;
  WeightStore w = *WeightStore::Open(std::string(kDir) + "/model/transformer.safetensors");
  const Dit causal = *Dit::Load(c, w);
  EXPECT_EQ(GenerateSequence(causal, cond_, &uncond_, Params("dpm++2m"), Noise()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace reel
