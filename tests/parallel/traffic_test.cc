// What sequence parallelism sends (ARCHITECTURE.md §4), measured on a 2-rank Gloo group with
// reel-tiny's shapes (random weights) at two resolutions: linear attention's all-reduce is the same
// number of bytes per layer whatever the number of tokens; the conv halo grows with the width only;
// both are far below what an all-gather of K and V (what softmax sequence parallelism needs) would
// send at the same shape. Prints the figures.
#include <cstdio>

#include "gtest/gtest.h"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/model/weights.h"
#include "tests/parallel/rank_threads.h"

namespace reel {
namespace {

struct Measured {
  GlooCommunicator::Traffic traffic;  // rank 0, one forward
  int64_t tokens = 0;
};

Measured Measure(const Dit& dit, int64_t latent_h, int64_t latent_w) {
  const DitConfig& c = dit.config();
  const Tensor caption = *Tensor::Zeros({4, c.caption_dim});
  const PreparedCaption cap = *dit.PrepareCaption(caption, *Tensor::FromVector({4}, {1, 1, 0, 0}));
  const Tensor x = *Tensor::Zeros({c.in_channels, 1, latent_h, latent_w});
  Measured m;
  m.tokens = (latent_h / c.patch_size[1]) * (latent_w / c.patch_size[2]);
  const std::vector<absl::Status> statuses =
      testing::RunRanks(2, [&](Communicator& comm) -> absl::Status {
        ForwardOptions options;
        options.parallel.comm = &comm;
        if (absl::Status s = dit.Forward(x, {500.0f}, cap, options).status(); !s.ok()) return s;
        if (comm.rank() == 0) m.traffic = static_cast<GlooCommunicator&>(comm).traffic();
        return absl::OkStatus();
      });
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
  return m;
}

TEST(SequenceParallelTraffic, AttentionBytesAreTokenIndependentAndFarBelowKvAllGather) {
  const absl::StatusOr<ModelConfig> config = LoadModelConfig("models/reel-tiny");
  ASSERT_TRUE(config.ok()) << config.status();
  const DitConfig& c = config->transformer;
  WeightStore w = WeightStore::RandomForTesting(3);
  const Dit dit = *Dit::Load(c, w);
  const int world = 2, layers = c.num_layers;
  const Measured small = Measure(dit, 32, 32), large = Measure(dit, 64, 64);  // 16², 32² tokens
  // One all-reduce of heads·d·(d+1) floats per layer; a ring sends 2(w−1)/w of it.
  const int64_t expected_attention =
      int64_t{2} * (world - 1) * c.num_heads * c.head_dim * (c.head_dim + 1) * 4 / world;
  EXPECT_EQ(small.traffic.all_reduce, expected_attention * layers);
  EXPECT_EQ(large.traffic.all_reduce, small.traffic.all_reduce) << "independent of the tokens";
  // Rank 0 sends one halo row of the FFN input (16 tokens × D) to rank 1 per layer.
  EXPECT_EQ(small.traffic.exchange, int64_t{layers} * 16 * c.hidden_size * 4);
  EXPECT_EQ(large.traffic.exchange, 2 * small.traffic.exchange) << "proportional to the width";
  std::printf(
      "[ figures ] reel-tiny shapes (D %lld, %lld heads x %lld, %d layers), 2 ranks, per "
      "layer per forward, rank 0 sends:\n",
      static_cast<long long>(c.hidden_size), static_cast<long long>(c.num_heads),
      static_cast<long long>(c.head_dim), layers);
  for (const Measured* m : {&small, &large}) {
    // An all-gather of K and V: each rank sends its half of the tokens' K and V (2·D floats each).
    const int64_t kv_all_gather = (world - 1) * (m->tokens / world) * 2 * c.hidden_size * 4;
    const GlooCommunicator::Traffic& t = m->traffic;
    std::printf(
        "[ figures ] %5lld tokens/frame: attention all-reduce %lld B, conv halo %lld B, "
        "output gather %lld B per forward; K/V all-gather would be %lld B per layer "
        "(%.0fx the attention all-reduce)\n",
        static_cast<long long>(m->tokens), static_cast<long long>(t.all_reduce / layers),
        static_cast<long long>(t.exchange / layers), static_cast<long long>(t.all_gather),
        static_cast<long long>(kv_all_gather),
        static_cast<double>(kv_all_gather) / (t.all_reduce / layers));
    EXPECT_LT(t.all_reduce / layers, kv_all_gather);
  }
}

}  // namespace
}  // namespace reel
