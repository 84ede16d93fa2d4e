// Temporal parallel prefill (AbsorbBlocks over ParallelSplit::kBlocks): K clean context blocks
// absorbed by P = 2, 3, 4 Gloo ranks (one block per rank per round, prefix states by AllScan; the
// rounds leave 1–2 blocks over, absorbed by every rank) give the state of absorbing them one by one
// on one rank (1e-5 relative), and the same state on every rank.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/generate/prefill.h"
#include "pipeline/model/config.h"
#include "pipeline/model/weights.h"
#include "tests/model/tiny_dit.h"
#include "tests/parallel/rank_threads.h"

namespace reel {
namespace {

using testing::Random;

// max |a − b| / max(|b|, tiny).
double RelativeError(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  if (x.size() != y.size()) return INFINITY;
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(double{x[i]} - y[i]));
    scale = std::max(scale, std::abs(double{y[i]}));
  }
  return diff / scale;
}

bool BitEqual(const Tensor& a, const Tensor& b) { return *a.ToVector() == *b.ToVector(); }

void ExpectPrefillEqualsSequential(const Dit& dit, int world, int64_t height, int64_t width) {
  const DitConfig& c = dit.config();
  const PreparedCaption cap =
      *dit.PrepareCaption(Random({5, c.caption_dim}, 7), *Tensor::FromVector({5}, {1, 1, 1, 0, 0}));
  const int64_t block_latent = int64_t{c.block_frames} * c.patch_size[0], blocks = 5;
  const Tensor context = Random({c.in_channels, blocks * block_latent, height, width}, 9);
  const int64_t spatial = (height / c.patch_size[1]) * (width / c.patch_size[2]);
  // Start from a state that has seen one earlier block, so that the incoming state matters.
  ModelState start = *dit.NewState(spatial);
  const Tensor first = Random({c.in_channels, block_latent, height, width}, 4);
  ASSERT_TRUE(AbsorbBlocks(dit, cap, first, 0, start, ParallelContext{}).ok());

  omp_set_num_threads(1);
  ModelState sequential = *CloneState(start);
  ASSERT_TRUE(AbsorbBlocks(dit, cap, context, 1, sequential, ParallelContext{}).ok());
  std::vector<ModelState> states(world);
  const std::vector<absl::Status> statuses = testing::RunRanks(world, [&](Communicator& comm) {
    omp_set_num_threads(1);
    absl::StatusOr<ModelState> s = CloneState(start);
    if (!s.ok()) return s.status();
    if (absl::Status st = AbsorbBlocks(dit, cap, context, 1, *s, ParallelContext{&comm});
        !st.ok()) {
      return st;
    }
    states[comm.rank()] = std::move(*s);
    return absl::OkStatus();
  });
  double worst = 0;
  for (int r = 0; r < world; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
    for (size_t l = 0; l < sequential.size(); ++l) {
      const BlockState &s = states[r][l], &o = sequential[l], &s0 = states[0][l];
      EXPECT_EQ(s.frames_seen, o.frames_seen);
      EXPECT_TRUE(BitEqual(s.kv, s0.kv) && BitEqual(s.ksum, s0.ksum) &&
                  BitEqual(s.conv_tail, s0.conv_tail))
          << "rank " << r << " layer " << l;
      worst = std::max({worst, RelativeError(s.kv, o.kv), RelativeError(s.ksum, o.ksum),
                        RelativeError(s.conv_tail, o.conv_tail)});
    }
  }
  EXPECT_LT(worst, 1e-5) << world << " ranks";
  std::printf(
      "[ figures ] AllScan prefill of %lld blocks on %d ranks: max relative state error "
      "%.3g\n",
      static_cast<long long>(blocks), world, worst);
}

class AllScanPrefill : public ::testing::TestWithParam<int> {};

TEST_P(AllScanPrefill, TinyDitEqualsSequentialAbsorption) {
  ExpectPrefillEqualsSequential(testing::TinyDit(), GetParam(), 6, 8);  // 2-frame blocks
}

TEST_P(AllScanPrefill, OneFrameBlocksEqualSequentialAbsorption) {
  // block_frames 1: a rank's conv history reaches two ranks back.
  nlohmann::json j = testing::TinyDitJson();
  j["block_frames"] = 1;
  j["num_layers"] = 3;
  WeightStore w = WeightStore::RandomForTesting(5);
  ExpectPrefillEqualsSequential(*Dit::Load(*ParseDitConfig(j), w), GetParam(), 6, 8);
}

INSTANTIATE_TEST_SUITE_P(Ranks, AllScanPrefill, ::testing::Values(2, 3, 4));

TEST(AllScanPrefill, ABlockParallelForwardMustBeAStateUpdate) {
  const Dit dit = testing::TinyDit();
  const PreparedCaption cap =
      *dit.PrepareCaption(Random({5, 24}, 7), *Tensor::FromVector({5}, {1, 1, 1, 0, 0}));
  const std::vector<absl::Status> statuses = testing::RunRanks(2, [&](Communicator& comm) {
    ForwardOptions options;
    options.parallel = {&comm, ParallelSplit::kBlocks};
    const absl::Status s = dit.Forward(Random({4, 2, 8, 8}, 1), {0.0f}, cap, options).status();
    return s.code() == absl::StatusCode::kInvalidArgument ? absl::OkStatus()
                                                          : absl::InternalError(s.ToString());
  });
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace reel
