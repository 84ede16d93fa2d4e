// The policies' schedules on scripted features (which steps run every block, what the forecast
// is), and the gate's agreement across the ranks of a sequence-parallel group.
#include "pipeline/cache/feature_cache.h"

#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/cache/make_feature_cache.h"
#include "pipeline/tensor/ops.h"

namespace reel {
namespace {

constexpr int kLayers = 8;

// A feature of 4 elements: scale(step) · (1, −2, 0.5, 3).
Tensor Scaled(double scale) {
  const float s = static_cast<float>(scale);
  return *Tensor::FromVector({4}, {s, -2.0f * s, 0.5f * s, 3.0f * s});
}

struct Trajectory {
  std::function<double(int)> first;  // block 0's output scale at a step
  std::function<double(int)> last;   // the last block's output scale
};

// Runs one block's schedule through the policy the way the forward does; returns the steps that
// ran every block, and checks every forecast against `expect_forecast` when given.
std::set<int> RunSchedule(FeatureCache& cache, int steps, const Trajectory& t,
                          const std::function<double(int)>& expect_forecast = nullptr) {
  std::set<int> computed;
  for (int s = 0; s < steps; ++s) {
    const Tensor first = Scaled(t.first(s));
    const absl::StatusOr<bool> compute = cache.ShouldCompute(s, first);
    EXPECT_TRUE(compute.ok()) << compute.status();
    if (*compute) {
      computed.insert(s);
      EXPECT_TRUE(cache.Observe(s, first, Scaled(t.last(s))).ok());
    } else {
      const absl::StatusOr<Tensor> f = cache.Forecast(s);
      EXPECT_TRUE(f.ok()) << f.status();
      if (expect_forecast) {
        const std::vector<float> got = *f->ToVector(),
                                 want = *Scaled(expect_forecast(s)).ToVector();
        for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << "step " << s;
      }
    }
  }
  return computed;
}

std::unique_ptr<FeatureCache> Make(const CacheOptions& o, int steps) {
  static LocalCommunicator local;
  return *MakeFeatureCache(o, steps, kLayers, local);
}

const Trajectory kAffine = {[](int s) { return 1.0 + 0.1 * s; },
                            [](int s) { return 2.0 - 0.15 * s; }};

TEST(FeatureCache, ZeroThresholdOrIntervalOneComputesEveryStep) {
  for (CachePolicyKind kind :
       {CachePolicyKind::kFbCache, CachePolicyKind::kTaylorSeer, CachePolicyKind::kCgTaylor}) {
    CacheOptions o = DefaultCacheOptions(kind);
    o.threshold = 0.0;
    o.interval = 1;
    auto cache = Make(o, 10);
    // A constant first block: its change and its forecast error are exactly 0, still not < 0.
    const Trajectory still = {[](int) { return 1.0; }, [](int s) { return 1.0 + s; }};
    EXPECT_EQ(RunSchedule(*cache, 10, still).size(), 10u) << CachePolicyName(kind);
    EXPECT_EQ(cache->stats().forwards_skipped, 0);
    EXPECT_EQ(cache->stats().block_forwards_computed, 10 * kLayers);
  }
}

TEST(FeatureCache, CgTaylorSkipsWhatItForecastsExactlyAndHonoursTheSchedule) {
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kCgTaylor);
  o.threshold = 0.01;
  o.warmup_steps = 3;
  auto cache = Make(o, 10);
  // Affine features: order 1 forecasts them exactly, so only warm-up and the final step run.
  EXPECT_EQ(RunSchedule(*cache, 10, kAffine, kAffine.last), (std::set<int>{0, 1, 2, 9}));
  EXPECT_EQ(cache->stats().forwards_skipped, 6);
  EXPECT_EQ(cache->stats().block_forwards_computed, 4 * kLayers + 6);
  EXPECT_EQ(cache->stats().block_forwards_skipped, 6 * (kLayers - 1));

  o.max_consecutive_skips = 2;
  auto capped = Make(o, 10);
  EXPECT_EQ(RunSchedule(*capped, 10, kAffine, kAffine.last), (std::set<int>{0, 1, 2, 5, 8, 9}));
  o.max_consecutive_skips = 0;
  o.final_step = false;
  auto open_end = Make(o, 10);
  EXPECT_EQ(RunSchedule(*open_end, 10, kAffine), (std::set<int>{0, 1, 2}));
}

TEST(FeatureCache, CgTaylorComputesWhereBlockZeroLeavesItsForecast) {
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kCgTaylor);
  o.threshold = 0.05;
  o.warmup_steps = 3;
  auto cache = Make(o, 10);
  // Block 0 jumps at step 5: the gate refuses there, and at 6 and 7 while the jump is still in
  // the two points the forecast is drawn through; at 8 the history is affine again.
  const Trajectory bump = {[](int s) { return (1.0 + 0.1 * s) * (s == 5 ? 2.0 : 1.0); },
                           kAffine.last};
  EXPECT_EQ(RunSchedule(*cache, 10, bump), (std::set<int>{0, 1, 2, 5, 6, 7, 9}));
}

TEST(FeatureCache, TaylorSeerRunsEveryIntervalAfterTheWarmUp) {
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kTaylorSeer);
  o.interval = 3;
  o.warmup_steps = 3;
  auto cache = Make(o, 12);
  EXPECT_EQ(RunSchedule(*cache, 12, kAffine, kAffine.last), (std::set<int>{0, 1, 2, 3, 6, 9, 11}));
}

TEST(FeatureCache, FbCacheReusesTheResidualUntilBlockZeroMoves) {
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kFbCache);
  o.threshold = 0.05;
  auto cache = Make(o, 11);
  // Block 0 grows 2% of its step-0 size per step; the reference is the last full step's output.
  const Trajectory drift = {[](int s) { return 1.0 + 0.02 * s; }, [](int s) { return 5.0 - s; }};
  // Forecast = first_now + (last − first) at the last full step c ∈ {0, 3, 6, 9}.
  auto forecast = [&](int s) {
    const int c = s / 3 * 3;
    return drift.first(s) + drift.last(c) - drift.first(c);
  };
  EXPECT_EQ(RunSchedule(*cache, 11, drift, forecast), (std::set<int>{0, 3, 6, 9}));
}

TEST(FeatureCache, EveryBlockStartsAFreshHistory) {
  CacheOptions o = DefaultCacheOptions(CachePolicyKind::kCgTaylor);
  o.threshold = 0.05;
  o.warmup_steps = 0;
  o.final_step = false;
  auto cache = Make(o, 4);
  // Step 0 has no history; at step 1 a one-point (constant) forecast of block 0 is 9% off; from
  // step 2 on the affine forecast is exact.
  EXPECT_EQ(RunSchedule(*cache, 4, kAffine), (std::set<int>{0, 1}));
  // The next block: step 0 again. Without a reset the affine history would be trusted here.
  EXPECT_EQ(RunSchedule(*cache, 4, kAffine), (std::set<int>{0, 1}));
  EXPECT_EQ(cache->stats().forwards_computed, 4);
  EXPECT_EQ(cache->stats().forwards_skipped, 4);
}

// Two ranks in one process: AllReduceSum adds both ranks' tensors (threads meet in the middle).
class PairGroup {
 public:
  class Rank final : public Communicator {
   public:
    Rank(PairGroup& group, int rank) : group_(group), rank_(rank) {}
    int rank() const override { return rank_; }
    int world_size() const override { return 2; }
    absl::Status AllReduceSum(absl::Span<Tensor* const> tensors) override {
      for (Tensor* t : tensors) group_.Reduce(*t);
      return absl::OkStatus();
    }
    // The gate only reduces; anything else would be a policy using more than it should.
    absl::Status AllGather(const Tensor&, absl::Span<const int64_t>, Tensor&) override {
      return absl::UnimplementedError("PairGroup: AllGather");
    }
    absl::Status Broadcast(Tensor&, int) override {
      return absl::UnimplementedError("PairGroup: Broadcast");
    }
    absl::Status Exchange(absl::Span<const SendTo>, absl::Span<const RecvFrom>) override {
      return absl::UnimplementedError("PairGroup: Exchange");
    }
    absl::Status Barrier() override { return absl::UnimplementedError("PairGroup: Barrier"); }

   private:
    PairGroup& group_;
    int rank_;
  };

  void Reduce(Tensor& t) {
    std::unique_lock<std::mutex> lock(mu_);
    const int generation = generation_;
    const std::vector<float> mine = *t.ToVector();
    if (arrived_ == 0) {
      sum_ = mine;
    } else {
      for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += mine[i];
    }
    if (++arrived_ == 2) {
      result_ = sum_;
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    std::copy(result_.begin(), result_.end(), t.data<float>());
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0, generation_ = 0;
  std::vector<float> sum_, result_;
};

// Half of a feature per rank: rank 0 holds a smooth band, rank 1 a band that wobbles.
Tensor Band(int rank, int step) {
  const float s = 1.0f + 0.1f * step;
  const float wobble = rank == 0 ? 0.0f : 0.3f * static_cast<float>(std::sin(1.7 * step));
  return *Tensor::FromVector({3}, {s, 2.0f * s + wobble, -s});
}

TEST(FeatureCache, RanksThatSeeDifferentErrorsDecideAlike) {
  for (CachePolicyKind kind : {CachePolicyKind::kCgTaylor, CachePolicyKind::kFbCache}) {
    CacheOptions o = DefaultCacheOptions(kind);
    o.threshold = 0.06;
    o.warmup_steps = 2;
    constexpr int kSteps = 16;
    // The reference: one rank holding both bands.
    LocalCommunicator local;
    auto whole = *MakeFeatureCache(o, kSteps, kLayers, local);
    std::vector<bool> want;
    for (int s = 0; s < kSteps; ++s) {
      const Tensor f = *ops::Concat({Band(0, s), Band(1, s)}, 0);
      want.push_back(*whole->ShouldCompute(s, f));
      if (want.back()) {
        ASSERT_TRUE(whole->Observe(s, f, f).ok());
      }
    }
    ASSERT_GT(whole->stats().forwards_skipped, 0) << "the test needs both decisions";
    ASSERT_GT(whole->stats().forwards_computed, o.warmup_steps + 1);
    // Judged alone, the two bands disagree: the reduction is what makes the ranks agree.
    std::vector<bool> alone[2];
    for (int r = 0; r < 2; ++r) {
      auto cache = *MakeFeatureCache(o, kSteps, kLayers, local);
      for (int s = 0; s < kSteps; ++s) {
        alone[r].push_back(*cache->ShouldCompute(s, Band(r, s)));
        if (alone[r].back()) {
          ASSERT_TRUE(cache->Observe(s, Band(r, s), Band(r, s)).ok());
        }
      }
    }
    ASSERT_NE(alone[0], alone[1]) << CachePolicyName(kind);

    PairGroup group;
    std::vector<bool> got[2];
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r) {
      threads.emplace_back([&, r] {
        PairGroup::Rank comm(group, r);
        auto cache = *MakeFeatureCache(o, kSteps, kLayers, comm);
        for (int s = 0; s < kSteps; ++s) {
          const Tensor f = Band(r, s);
          got[r].push_back(*cache->ShouldCompute(s, f));
          if (got[r].back()) {
            EXPECT_TRUE(cache->Observe(s, f, f).ok());
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(got[0], want) << CachePolicyName(kind);
    EXPECT_EQ(got[1], want) << CachePolicyName(kind);
  }
}

}  // namespace
}  // namespace reel
