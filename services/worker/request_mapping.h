#pragma once
// Between the wire (reel.v1) and the engine (pipeline/generate/renderer.h).
#include "pipeline/generate/renderer.h"
#include "reel/v1/generation.pb.h"
#include "reel/v1/worker.pb.h"

namespace reel::worker {

// The engine request for an API request (IMAGE → 1 frame; absent cfg_scale → the model's default).
RenderRequest ToRenderRequest(const v1::GenerateRequest& request);
// `request` with the values the renderer resolved (size, frames, fps, steps, sampler, cfg, seed).
v1::GenerateRequest WithResolved(const v1::GenerateRequest& request, const RenderRequest& resolved);
v1::ModelDescription DescribeModel(const ModelInfo& info);
v1::Progress ToProgress(const RenderProgress& progress);

}  // namespace reel::worker
