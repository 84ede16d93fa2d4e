// The worker's mapping between the public request and the engine's: every field reaches the
// renderer, and what the renderer resolved is recorded on the job.
#include "services/worker/request_mapping.h"

#include "gtest/gtest.h"

namespace reel::worker {
namespace {

TEST(RequestMappingTest, AttentionSettingsReachTheRendererAndComeBackResolved) {
  v1::GenerateRequest r;
  r.set_prompt("a red circle");
  EXPECT_EQ(ToRenderRequest(r).attention.attention_window, -1) << "absent: the model's";
  EXPECT_LT(ToRenderRequest(r).attention.sla_topk, 0.0f);
  r.set_attention_window(0);  // 0 is a value (pure linear / every block), not "absent"
  r.set_sla_topk(0.5);
  const RenderRequest mapped = ToRenderRequest(r);
  EXPECT_EQ(mapped.attention.attention_window, 0);
  EXPECT_FLOAT_EQ(mapped.attention.sla_topk, 0.5f);

  RenderRequest resolved = mapped;
  resolved.attention.attention_window = 2;
  resolved.attention.sla_topk = 0.25f;
  const v1::GenerateRequest recorded = WithResolved(v1::GenerateRequest(), resolved);
  EXPECT_EQ(recorded.attention_window(), 2);
  EXPECT_DOUBLE_EQ(recorded.sla_topk(), 0.25);
  resolved.attention = AttentionOverrides{};  // a linear model resolves to none
  EXPECT_FALSE(WithResolved(v1::GenerateRequest(), resolved).has_attention_window());
  EXPECT_FALSE(WithResolved(v1::GenerateRequest(), resolved).has_sla_topk());
}

}  // namespace
}  // namespace reel::worker
