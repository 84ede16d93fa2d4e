#include "services/gateway/budget.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace reel::gateway {
namespace {

const v1::ModelDescription* Target(const v1::GenerateRequest& r,
                                   const std::vector<v1::ModelDescription>& served) {
  for (const v1::ModelDescription& m : served) {
    if (r.model().empty() || m.name() == r.model()) return &m;
  }
  return nullptr;
}

int64_t OrDefault(int value, int model_default) {
  if (value > 0) return value;
  return model_default > 0 ? model_default : 1;
}

}  // namespace

int64_t JobCost(const v1::GenerateRequest& r, const v1::ModelDescription* model) {
  const int64_t width = OrDefault(r.width(), model ? model->default_width() : 0);
  const int64_t height = OrDefault(r.height(), model ? model->default_height() : 0);
  const int64_t frames = r.kind() == v1::GenerateRequest::IMAGE
                             ? 1
                             : OrDefault(r.frames(), model ? model->default_frames() : 0);
  const int64_t steps = OrDefault(r.steps(), model ? model->default_steps() : 0);
  // Each factor is bounded by the edge limits (1024, 1024, 4096, 200): the product fits in int64.
  return width * height * frames * steps;
}

absl::Status CheckJobMemory(const v1::GenerateRequest& r,
                            const std::vector<v1::ModelDescription>& served) {
  int64_t largest_limit = 0, smallest_need = 0, need_width = 0, need_height = 0;
  std::string model;
  for (const v1::ModelDescription& m : served) {
    if (!r.model().empty() && m.name() != r.model()) continue;
    // A worker that cannot say how much memory it has, or a model without an estimate: maybe.
    if (m.memory_limit_bytes() <= 0 || m.memory_bytes_per_pixel() <= 0) return absl::OkStatus();
    const int64_t width = OrDefault(r.width(), m.default_width());
    const int64_t height = OrDefault(r.height(), m.default_height());
    const int64_t need = m.base_memory_bytes() + m.memory_bytes_per_pixel() * width * height;
    if (need <= m.memory_limit_bytes()) return absl::OkStatus();
    if (smallest_need == 0 || need < smallest_need) {
      smallest_need = need;
      need_width = width;
      need_height = height;
    }
    largest_limit = std::max(largest_limit, m.memory_limit_bytes());
    model = m.name();
  }
  if (smallest_need == 0) return absl::OkStatus();  // no worker for it yet: nothing to compare
  return absl::InvalidArgumentError(absl::StrCat(
      "width, height: a ", need_width, "x", need_height, " render of '", model, "' needs about ",
      smallest_need >> 20, " MiB, more than any of its workers may use (largest limit ",
      largest_limit >> 20, " MiB); ask for fewer pixels"));
}

absl::Status CheckJobBudget(const v1::GenerateRequest& r,
                            const std::vector<v1::ModelDescription>& served, int64_t max_job_cost) {
  if (max_job_cost <= 0) return absl::OkStatus();
  const int64_t cost = JobCost(r, Target(r, served));
  if (cost <= max_job_cost) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "request: width × height × frames × steps = ", cost, " is above this server's budget of ",
      max_job_cost, " per job (--max_job_cost); ask for fewer frames, steps or pixels"));
}

}  // namespace reel::gateway
