// The edge checks: each documented limit rejects with INVALID_ARGUMENT naming the field, the limits
// themselves are accepted (off-by-one guard), and model-specific rules apply once a model is known.
#include "services/gateway/validation.h"

#include "gtest/gtest.h"
#include "tests/services/invalid_requests.h"

namespace reel::gateway {
namespace {

using reel::testing::InvalidCase;
using reel::testing::InvalidCases;
using reel::testing::ValidRequest;

class InvalidRequestTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidRequestTest, IsRejectedNamingTheField) {
  v1::GenerateRequest r = ValidRequest();
  GetParam().mutate(r);
  const absl::Status s = ValidateGenerateRequest(r, {});
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().substr(0, GetParam().field.size() + 1), GetParam().field + ":") << s;
}

INSTANTIATE_TEST_SUITE_P(AllRules, InvalidRequestTest, ::testing::ValuesIn(InvalidCases()),
                         [](const auto& info) { return info.param.name; });

TEST(ValidationTest, AcceptsEveryLimitItself) {
  v1::GenerateRequest r = ValidRequest();
  r.set_prompt(std::string(4096, 'p'));
  r.set_negative_prompt(std::string(4096, 'n'));
  r.set_width(1024);
  r.set_height(16);
  r.set_frames(4096);
  r.set_fps(240);
  r.set_steps(200);
  r.set_sampler("dpm++2m");
  r.set_cfg_scale(30);
  r.set_model("reel-tiny_v1.2");
  r.set_output_format("webm");
  r.set_priority(-10);
  r.set_idempotency_key(std::string(128, '~'));
  r.set_cache_policy("cg-taylor");
  r.set_cache_threshold(1);
  r.set_cache_interval(100);
  r.set_attention_window(64);
  r.set_sla_topk(1);
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok()) << ValidateGenerateRequest(r, {});
  r.set_attention_window(0);
  r.set_cfg_scale(0);
  r.set_priority(10);
  r.set_cache_threshold(0);
  r.set_cache_interval(1);
  for (const char* policy : {"none", "fbcache", "taylorseer", ""}) {
    r.set_cache_policy(policy);
    EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok()) << policy;
  }
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok());
}

TEST(ValidationTest, ZeroMeansTheModelsDefault) {
  v1::GenerateRequest r = ValidRequest();
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok());
  r.set_kind(v1::GenerateRequest::IMAGE);
  r.set_output_format("webp");
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok());
  r.set_frames(1);
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok());
}

TEST(ValidationTest, ModelRulesApplyOnceAWorkerRegisteredTheModel) {
  v1::ModelDescription tiny;
  tiny.set_name("reel-tiny");
  tiny.set_spatial_factor(16);
  tiny.set_temporal_factor(8);
  tiny.set_max_frames(64);
  const std::vector<v1::ModelDescription> served = {tiny};

  v1::GenerateRequest r = ValidRequest();
  r.set_width(24);  // a multiple of 8 (the edge rule) but not of the model's 16
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok());
  absl::Status s = ValidateGenerateRequest(r, served);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("multiple of 16"), absl::string_view::npos) << s;

  r = ValidRequest();
  r.set_frames(12);
  s = ValidateGenerateRequest(r, served);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("try 16"), absl::string_view::npos) << s;
  r.set_frames(16);
  EXPECT_TRUE(ValidateGenerateRequest(r, served).ok());
  r.set_frames(72);
  EXPECT_EQ(ValidateGenerateRequest(r, served).code(), absl::StatusCode::kInvalidArgument);
  r.set_frames(1);  // one frame is always allowed (an image as a video)
  EXPECT_TRUE(ValidateGenerateRequest(r, served).ok());

  r = ValidRequest();
  r.set_model("reel-large");
  s = ValidateGenerateRequest(r, served);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("available: reel-tiny"), absl::string_view::npos) << s;
  EXPECT_TRUE(ValidateGenerateRequest(r, {}).ok());  // nobody registered yet: accepted, it waits
}

TEST(ValidationTest, AttentionSettingsMustFitTheModelsKind) {
  v1::ModelDescription tiny, sla;
  tiny.set_name("reel-tiny");
  tiny.set_attention("linear");
  sla.set_name("reel-tiny-sla");
  sla.set_attention("sparse_linear");
  const std::vector<v1::ModelDescription> served = {tiny, sla};
  v1::GenerateRequest r = ValidRequest();
  r.set_model("reel-tiny");
  r.set_attention_window(2);
  absl::Status s = ValidateGenerateRequest(r, served);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("uses linear attention"), absl::string_view::npos) << s;
  r.set_model("reel-tiny-sla");
  r.set_sla_topk(0.5);
  EXPECT_TRUE(ValidateGenerateRequest(r, served).ok()) << ValidateGenerateRequest(r, served);
  sla.set_attention("softmax");
  s = ValidateGenerateRequest(r, {sla});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not sparse_linear"), absl::string_view::npos) << s;
}

TEST(ValidationTest, JobIds) {
  EXPECT_TRUE(ValidateJobId("j0123456789abcdef").ok());
  EXPECT_EQ(ValidateJobId("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateJobId("../jobs.db").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateJobId(std::string(65, 'a')).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reel::gateway
