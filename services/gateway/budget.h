#pragma once
// The per-deployment cost budget: a job costs width × height × frames × steps ("pixel-steps", what
// the denoiser's work grows with), and one above the deployment's --max_job_cost is refused at the
// edge with INVALID_ARGUMENT, before it can occupy a worker for hours. Fields left 0 count at the
// target model's default once a worker serving it registered (otherwise as 1).
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "reel/v1/generation.pb.h"
#include "reel/v1/worker.pb.h"

namespace reel::gateway {

// width × height × frames × steps with the model's defaults filled in (see above).
int64_t JobCost(const v1::GenerateRequest& request, const v1::ModelDescription* model);

// OK unless every registered worker that could run the request states a memory limit and the
// request's estimated peak memory (ModelDescription: base + per pixel × width × height) is above
// each of them: then INVALID_ARGUMENT naming the estimate and the largest limit.
absl::Status CheckJobMemory(const v1::GenerateRequest& request,
                            const std::vector<v1::ModelDescription>& served);

// OK when max_job_cost is 0 (no budget) or the request's cost is within it.
absl::Status CheckJobBudget(const v1::GenerateRequest& request,
                            const std::vector<v1::ModelDescription>& served, int64_t max_job_cost);

}  // namespace reel::gateway
