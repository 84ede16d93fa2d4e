#include "services/worker/request_mapping.h"

#include <algorithm>

namespace reel::worker {

RenderRequest ToRenderRequest(const v1::GenerateRequest& r) {
  RenderRequest out;
  out.prompt = r.prompt();
  out.negative_prompt = r.negative_prompt();
  out.width = r.width();
  out.height = r.height();
  out.frames = r.kind() == v1::GenerateRequest::IMAGE ? 1 : r.frames();
  out.fps = r.fps();
  out.steps = r.steps();
  out.cfg_scale = r.has_cfg_scale() ? r.cfg_scale() : -1.0;
  out.seed = r.seed();
  out.sampler = r.sampler();
  out.cache.policy = r.cache_policy();
  if (r.has_cache_threshold()) out.cache.threshold = r.cache_threshold();
  if (r.has_cache_interval()) out.cache.interval = r.cache_interval();
  if (r.has_attention_window()) out.attention.attention_window = r.attention_window();
  if (r.has_sla_topk()) out.attention.sla_topk = static_cast<float>(r.sla_topk());
  return out;
}

v1::GenerateRequest WithResolved(const v1::GenerateRequest& request,
                                 const RenderRequest& resolved) {
  v1::GenerateRequest out = request;
  out.set_width(resolved.width);
  out.set_height(resolved.height);
  out.set_frames(resolved.frames);
  out.set_fps(resolved.fps);
  out.set_steps(resolved.steps);
  out.set_sampler(resolved.sampler);
  out.set_cfg_scale(resolved.cfg_scale);
  out.set_seed(resolved.seed);
  // The resolved cache setting, so that a job records what it ran with.
  out.set_cache_policy(resolved.cache.policy);
  if (resolved.cache.threshold) out.set_cache_threshold(*resolved.cache.threshold);
  if (resolved.cache.interval) out.set_cache_interval(*resolved.cache.interval);
  if (resolved.attention.attention_window >= 0) {
    out.set_attention_window(resolved.attention.attention_window);
  }
  if (resolved.attention.sla_topk >= 0) out.set_sla_topk(resolved.attention.sla_topk);
  return out;
}

v1::ModelDescription DescribeModel(const ModelInfo& info) {
  v1::ModelDescription m;
  m.set_name(info.name);
  m.set_default_width(info.default_width);
  m.set_default_height(info.default_height);
  m.set_default_frames(info.default_frames);
  m.set_max_frames(info.max_frames);
  m.set_default_fps(info.default_fps);
  m.set_spatial_factor(info.spatial_factor);
  m.set_temporal_factor(info.temporal_factor);
  m.set_default_steps(info.default_steps);
  m.set_attention(info.attention);
  m.set_base_memory_bytes(info.base_memory_bytes);
  m.set_memory_bytes_per_pixel(info.memory_bytes_per_pixel);
  return m;
}

v1::Progress ToProgress(const RenderProgress& p) {
  v1::Progress out;
  out.set_step(p.step);
  out.set_total_steps(p.total_steps);
  out.set_block(p.block);
  out.set_total_blocks(p.total_blocks);
  out.set_eta_seconds(p.eta_s);
  out.set_elapsed_seconds(p.elapsed_s);
  out.set_block_forwards_computed(p.block_forwards_computed);
  out.set_block_forwards_skipped(p.block_forwards_skipped);
  // Steps of finished blocks plus the current one; the renderer counts `block` as finished once its
  // last step is done, so the current block's steps are only added while it is still in flight.
  const double total = static_cast<double>(p.total_steps) * p.total_blocks;
  if (total > 0) {
    const bool block_done = p.step == p.total_steps;
    const double done = static_cast<double>(p.block) * p.total_steps + (block_done ? 0 : p.step);
    out.set_fraction(std::clamp(done / total, 0.0, 1.0));
  }
  return out;
}

}  // namespace reel::worker
