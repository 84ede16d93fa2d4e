// Cache options: config.json parsing, request overrides over the model's default, limits named.
#include "pipeline/cache/cache_options.h"

#include <string>

#include "gtest/gtest.h"

namespace reel {
namespace {

bool Mentions(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(CacheOptions, ConfigKeepsPolicyDefaultsForKeysNotGiven) {
  EXPECT_EQ(ParseCacheConfig(nlohmann::json())->policy, CachePolicyKind::kNone);
  const absl::StatusOr<CacheOptions> o =
      ParseCacheConfig(nlohmann::json::parse(R"({"policy": "cg-taylor", "threshold": 0.2})"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->policy, CachePolicyKind::kCgTaylor);
  EXPECT_EQ(o->threshold, 0.2);
  EXPECT_EQ(o->warmup_steps, DefaultCacheOptions(CachePolicyKind::kCgTaylor).warmup_steps);

  const absl::Status typo =
      ParseCacheConfig(nlohmann::json::parse(R"({"policy": "fbcache", "treshold": 0.2})")).status();
  EXPECT_FALSE(typo.ok());
  EXPECT_TRUE(Mentions(typo, "treshold")) << typo;
  const absl::Status bad =
      ParseCacheConfig(nlohmann::json::parse(R"({"policy": "teacache"})")).status();
  EXPECT_TRUE(Mentions(bad, "'teacache' is not one of none, fbcache, taylorseer, cg-taylor"))
      << bad;
}

TEST(CacheOptions, ARequestOverridesTheModelDefault) {
  CacheOptions model = DefaultCacheOptions(CachePolicyKind::kCgTaylor);
  model.threshold = 0.3;
  model.first_block_order = 2;
  CacheRequest r;
  EXPECT_EQ(ResolveCacheOptions(model, r)->threshold, 0.3) << "nothing set: the model's default";
  r.threshold = 0.1;
  const CacheOptions same = *ResolveCacheOptions(model, r);
  EXPECT_EQ(same.threshold, 0.1);
  EXPECT_EQ(same.first_block_order, 2) << "same policy: the model's other knobs stay";
  r.policy = "taylorseer";
  r.threshold.reset();
  const CacheOptions other = *ResolveCacheOptions(model, r);
  EXPECT_EQ(other.policy, CachePolicyKind::kTaylorSeer);
  EXPECT_EQ(other.interval, DefaultCacheOptions(CachePolicyKind::kTaylorSeer).interval);
  // A resolved request is explicit and resolves to itself.
  const CacheRequest explicit_request = ToCacheRequest(other);
  const CacheOptions again = *ResolveCacheOptions(model, explicit_request);
  EXPECT_EQ(DescribeCacheOptions(again), DescribeCacheOptions(other));
  EXPECT_EQ(DescribeCacheOptions(other), "taylorseer interval=3 order=1 warmup=3");
}

TEST(CacheOptions, LimitsNameTheOption) {
  const CacheOptions none;
  CacheRequest r;
  r.policy = "fbcache";
  r.threshold = 1.5;
  EXPECT_TRUE(Mentions(ResolveCacheOptions(none, r).status(), "cache threshold: 1.5 is outside"));
  r.threshold = -0.1;
  EXPECT_FALSE(ResolveCacheOptions(none, r).ok());
  r.threshold.reset();
  r.interval = 0;
  EXPECT_TRUE(
      Mentions(ResolveCacheOptions(none, r).status(), "cache interval: 0 is outside 1..100"));
  r.interval.reset();
  r.order = 3;
  EXPECT_TRUE(Mentions(ResolveCacheOptions(none, r).status(), "cache order: 3 is outside 0..2"));
  r.order.reset();
  r.policy = "bogus";
  EXPECT_EQ(ResolveCacheOptions(none, r).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reel
