#include "services/gateway/validation.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/limits.h"
#include "services/common/result_files.h"

namespace reel::gateway {
namespace {

using service::kCachePolicyNames;
using service::kMaxAttentionWindow;
using service::kMaxCacheInterval;
using service::kMaxCacheThreshold;
using service::kMaxCfgScale;
using service::kMaxFps;
using service::kMaxFrames;
using service::kMaxIdempotencyKeyBytes;
using service::kMaxModelNameBytes;
using service::kMaxPriority;
using service::kMaxPromptBytes;
using service::kMaxSide;
using service::kMaxSteps;
using service::kMinPriority;
using service::kMinSide;
using service::kSideMultiple;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

bool IsVideo(const v1::GenerateRequest& r) { return r.kind() != v1::GenerateRequest::IMAGE; }

absl::Status CheckSide(absl::string_view field, int value, int model_multiple) {
  if (value == 0) return absl::OkStatus();
  if (value < kMinSide || value > kMaxSide) {
    return Invalid(field, absl::StrCat(value, " is outside ", kMinSide, "..", kMaxSide,
                                       " (0 means the model's default)"));
  }
  const int multiple = std::max(kSideMultiple, model_multiple);
  if (value % multiple != 0) {
    return Invalid(field, absl::StrCat(value, " is not a multiple of ", multiple));
  }
  return absl::OkStatus();
}

const v1::ModelDescription* FindModel(const std::vector<v1::ModelDescription>& served,
                                      const std::string& name) {
  for (const v1::ModelDescription& m : served) {
    if (m.name() == name) return &m;
  }
  return nullptr;
}

// The model the job will run on when that is already certain: the named one, or the only one
// served.
const v1::ModelDescription* TargetModel(const std::vector<v1::ModelDescription>& served,
                                        const std::string& name) {
  if (!name.empty()) return FindModel(served, name);
  if (served.empty()) return nullptr;
  for (const v1::ModelDescription& m : served) {
    if (m.name() != served.front().name()) return nullptr;
  }
  return &served.front();
}

}  // namespace

absl::Status ValidateGenerateRequest(const v1::GenerateRequest& r,
                                     const std::vector<v1::ModelDescription>& served) {
  if (r.prompt().empty()) return Invalid("prompt", "is required");
  if (r.prompt().size() > kMaxPromptBytes) {
    return Invalid("prompt", absl::StrCat(r.prompt().size(), " bytes is above the limit of ",
                                          kMaxPromptBytes));
  }
  if (r.negative_prompt().size() > kMaxPromptBytes) {
    return Invalid(
        "negative_prompt",
        absl::StrCat(r.negative_prompt().size(), " bytes is above the limit of ", kMaxPromptBytes));
  }
  if (!v1::GenerateRequest::Kind_IsValid(r.kind())) {
    return Invalid("kind", absl::StrCat("unknown value ", static_cast<int>(r.kind())));
  }
  // Model name first: the size checks below depend on the model.
  if (r.model().size() > kMaxModelNameBytes) {
    return Invalid("model", absl::StrCat("is ", r.model().size(), " bytes; the limit is ",
                                         kMaxModelNameBytes));
  }
  for (char c : r.model()) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-')) {
      return Invalid("model", "may only contain a-z, 0-9, '.', '_' and '-'");
    }
  }
  if (!r.model().empty() && !served.empty() && FindModel(served, r.model()) == nullptr) {
    std::vector<std::string> names;
    for (const v1::ModelDescription& m : served) names.push_back(m.name());
    return Invalid("model", absl::StrCat("'", r.model(), "' is not served here; available: ",
                                         absl::StrJoin(names, ", ")));
  }
  const v1::ModelDescription* model = TargetModel(served, r.model());
  const int spatial = model ? model->spatial_factor() : 0;
  if (absl::Status s = CheckSide("width", r.width(), spatial); !s.ok()) return s;
  if (absl::Status s = CheckSide("height", r.height(), spatial); !s.ok()) return s;

  if (IsVideo(r)) {
    if (r.frames() < 0 || r.frames() > kMaxFrames) {
      return Invalid("frames", absl::StrCat(r.frames(), " is outside 0..", kMaxFrames));
    }
    if (model != nullptr && r.frames() > 1) {
      if (model->max_frames() > 0 && r.frames() > model->max_frames()) {
        return Invalid("frames", absl::StrCat(r.frames(), " is above model '", model->name(),
                                              "''s limit of ", model->max_frames()));
      }
      const int block = model->temporal_factor();
      if (block > 1 && r.frames() % block != 0) {
        return Invalid("frames",
                       absl::StrCat(r.frames(), " is not a whole number of model '", model->name(),
                                    "''s blocks of ", block, " frames (try ",
                                    (r.frames() + block - 1) / block * block, ")"));
      }
    }
  } else if (r.frames() != 0 && r.frames() != 1) {
    return Invalid("frames", absl::StrCat("an IMAGE has 1 frame, got ", r.frames()));
  }
  if (!(r.fps() >= 0) || r.fps() > kMaxFps) {
    return Invalid("fps", absl::StrCat(r.fps(), " is outside (0, ", kMaxFps,
                                       "] (0 means the model's default)"));
  }
  if (r.steps() < 0 || r.steps() > kMaxSteps) {
    return Invalid("steps", absl::StrCat(r.steps(), " is outside 1..", kMaxSteps,
                                         " (0 means the model's default)"));
  }
  if (!r.sampler().empty() && r.sampler() != "euler" && r.sampler() != "dpm++2m") {
    return Invalid("sampler", absl::StrCat("'", r.sampler(), "' is not one of euler, dpm++2m"));
  }
  if (r.has_cfg_scale() && !(r.cfg_scale() >= 0 && r.cfg_scale() <= kMaxCfgScale)) {
    return Invalid("cfg_scale", absl::StrCat(r.cfg_scale(), " is outside 0..", kMaxCfgScale));
  }
  if (!r.cache_policy().empty() && std::find(kCachePolicyNames.begin(), kCachePolicyNames.end(),
                                             r.cache_policy()) == kCachePolicyNames.end()) {
    return Invalid("cache_policy", absl::StrCat("'", r.cache_policy(), "' is not one of ",
                                                absl::StrJoin(kCachePolicyNames, ", ")));
  }
  if (r.has_cache_threshold() &&
      !(r.cache_threshold() >= 0 && r.cache_threshold() <= kMaxCacheThreshold)) {
    return Invalid("cache_threshold",
                   absl::StrCat(r.cache_threshold(), " is outside 0..", kMaxCacheThreshold));
  }
  if (r.has_cache_interval() &&
      (r.cache_interval() < 1 || r.cache_interval() > kMaxCacheInterval)) {
    return Invalid("cache_interval",
                   absl::StrCat(r.cache_interval(), " is outside 1..", kMaxCacheInterval));
  }
  if (r.has_attention_window() &&
      (r.attention_window() < 0 || r.attention_window() > kMaxAttentionWindow)) {
    return Invalid("attention_window",
                   absl::StrCat(r.attention_window(), " is outside 0..", kMaxAttentionWindow));
  }
  if (r.has_sla_topk() && !(r.sla_topk() > 0 && r.sla_topk() <= 1)) {
    return Invalid("sla_topk", absl::StrCat(r.sla_topk(), " is outside (0, 1]"));
  }
  // What a model's attention kind takes (the worker checks again against the model itself).
  if (model != nullptr && !model->attention().empty()) {
    if (r.has_attention_window() && model->attention() == "linear") {
      return Invalid("attention_window", absl::StrCat("model '", model->name(),
                                                      "' uses linear attention (no exact branch)"));
    }
    if (r.has_sla_topk() && model->attention() != "sparse_linear") {
      return Invalid("sla_topk", absl::StrCat("model '", model->name(), "' uses ",
                                              model->attention(), " attention, not sparse_linear"));
    }
  }
  const std::string& f = r.output_format();
  if (IsVideo(r)) {
    if (!f.empty() && f != "mp4" && f != "webm" && f != "gif" && f != "webp") {
      return Invalid("output_format",
                     absl::StrCat("'", f, "' is not a video format (mp4, webm, gif, webp)"));
    }
  } else if (!f.empty() && f != "png" && f != "jpeg" && f != "webp") {
    return Invalid("output_format",
                   absl::StrCat("'", f, "' is not an image format (png, jpeg, webp)"));
  }
  if (r.priority() < kMinPriority || r.priority() > kMaxPriority) {
    return Invalid("priority",
                   absl::StrCat(r.priority(), " is outside ", kMinPriority, "..", kMaxPriority));
  }
  if (r.idempotency_key().size() > kMaxIdempotencyKeyBytes) {
    return Invalid("idempotency_key",
                   absl::StrCat("is ", r.idempotency_key().size(), " bytes; the limit is ",
                                kMaxIdempotencyKeyBytes));
  }
  for (char c : r.idempotency_key()) {
    if (c < '!' || c > '~')
      return Invalid("idempotency_key", "must be printable ASCII without spaces");
  }
  return absl::OkStatus();
}

absl::Status ValidateJobId(absl::string_view id, absl::string_view field) {
  if (id.empty()) return Invalid(field, "is required");
  if (id.size() > service::kMaxJobIdBytes) return Invalid(field, "is too long to be a job id");
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') {
      return Invalid(field, "is not a job id (letters, digits, '-', '_')");
    }
  }
  return absl::OkStatus();
}

std::string ResolvedFormat(const v1::GenerateRequest& request) {
  return service::ContainerFormat(request.kind() == v1::GenerateRequest::IMAGE,
                                  request.output_format());
}

}  // namespace reel::gateway
