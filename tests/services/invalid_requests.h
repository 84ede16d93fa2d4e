#pragma once
// Every INVALID_ARGUMENT rule of GenerateRequest (generation.proto), as (name, field, mutation)
// cases applied to a valid request. Shared by the validation unit test and the gRPC test.
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "reel/v1/generation.pb.h"

namespace reel::testing {

struct InvalidCase {
  std::string name;
  std::string field;  // the error message must start with "<field>:"
  std::function<void(v1::GenerateRequest&)> mutate;
};

inline v1::GenerateRequest ValidRequest() {
  v1::GenerateRequest r;
  r.set_prompt("a red ball bouncing");
  return r;
}

inline std::vector<InvalidCase> InvalidCases() {
  using R = v1::GenerateRequest;
  return {
      {"EmptyPrompt", "prompt", [](R& r) { r.clear_prompt(); }},
      {"LongPrompt", "prompt", [](R& r) { r.set_prompt(std::string(4097, 'a')); }},
      {"LongNegativePrompt", "negative_prompt",
       [](R& r) { r.set_negative_prompt(std::string(4097, 'b')); }},
      {"UnknownKind", "kind", [](R& r) { r.set_kind(static_cast<R::Kind>(7)); }},
      {"WidthTooSmall", "width", [](R& r) { r.set_width(8); }},
      {"WidthTooLarge", "width", [](R& r) { r.set_width(2048); }},
      {"WidthNotMultiple", "width", [](R& r) { r.set_width(100); }},
      {"NegativeWidth", "width", [](R& r) { r.set_width(-64); }},
      {"HeightTooLarge", "height", [](R& r) { r.set_height(1032); }},
      {"HeightNotMultiple", "height", [](R& r) { r.set_height(36); }},
      {"NegativeFrames", "frames", [](R& r) { r.set_frames(-1); }},
      {"TooManyFrames", "frames", [](R& r) { r.set_frames(4097); }},
      {"ImageWithFrames", "frames",
       [](R& r) {
         r.set_kind(R::IMAGE);
         r.set_frames(8);
       }},
      {"NegativeFps", "fps", [](R& r) { r.set_fps(-1); }},
      {"FpsTooHigh", "fps", [](R& r) { r.set_fps(241); }},
      {"NanFps", "fps", [](R& r) { r.set_fps(std::numeric_limits<double>::quiet_NaN()); }},
      {"NegativeSteps", "steps", [](R& r) { r.set_steps(-2); }},
      {"TooManySteps", "steps", [](R& r) { r.set_steps(201); }},
      {"UnknownSampler", "sampler", [](R& r) { r.set_sampler("ddim"); }},
      {"NegativeCfg", "cfg_scale", [](R& r) { r.set_cfg_scale(-0.5); }},
      {"CfgTooHigh", "cfg_scale", [](R& r) { r.set_cfg_scale(31); }},
      {"ModelBadChars", "model", [](R& r) { r.set_model("../etc/passwd"); }},
      {"ModelUpperCase", "model", [](R& r) { r.set_model("Reel-Tiny"); }},
      {"ModelTooLong", "model", [](R& r) { r.set_model(std::string(129, 'm')); }},
      {"VideoFormatForVideo", "output_format", [](R& r) { r.set_output_format("png"); }},
      {"UnknownFormat", "output_format", [](R& r) { r.set_output_format("avi"); }},
      {"VideoFormatForImage", "output_format",
       [](R& r) {
         r.set_kind(R::IMAGE);
         r.set_output_format("mp4");
       }},
      {"UnknownCachePolicy", "cache_policy", [](R& r) { r.set_cache_policy("teacache"); }},
      {"CacheThresholdTooHigh", "cache_threshold", [](R& r) { r.set_cache_threshold(1.5); }},
      {"NegativeCacheThreshold", "cache_threshold", [](R& r) { r.set_cache_threshold(-0.1); }},
      {"NanCacheThreshold", "cache_threshold",
       [](R& r) { r.set_cache_threshold(std::numeric_limits<double>::quiet_NaN()); }},
      {"ZeroCacheInterval", "cache_interval", [](R& r) { r.set_cache_interval(0); }},
      {"CacheIntervalTooHigh", "cache_interval", [](R& r) { r.set_cache_interval(101); }},
      {"NegativeAttentionWindow", "attention_window", [](R& r) { r.set_attention_window(-1); }},
      {"AttentionWindowTooHigh", "attention_window", [](R& r) { r.set_attention_window(65); }},
      {"ZeroSlaTopk", "sla_topk", [](R& r) { r.set_sla_topk(0); }},
      {"SlaTopkAboveOne", "sla_topk", [](R& r) { r.set_sla_topk(1.01); }},
      {"NanSlaTopk", "sla_topk",
       [](R& r) { r.set_sla_topk(std::numeric_limits<double>::quiet_NaN()); }},
      {"PriorityTooHigh", "priority", [](R& r) { r.set_priority(11); }},
      {"PriorityTooLow", "priority", [](R& r) { r.set_priority(-11); }},
      {"LongIdempotencyKey", "idempotency_key",
       [](R& r) { r.set_idempotency_key(std::string(129, 'k')); }},
      {"IdempotencyKeyWithSpace", "idempotency_key", [](R& r) { r.set_idempotency_key("a b"); }},
  };
}

}  // namespace reel::testing
