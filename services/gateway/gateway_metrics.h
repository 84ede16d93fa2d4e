#pragma once
// The gateway's Prometheus series (served on GET /metrics by the Gateway's HTTP port).
#include <map>

#include "services/common/metrics.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

struct GatewayMetrics {
  explicit GatewayMetrics(service::MetricsRegistry& registry);

  service::Counter& submitted;
  service::Counter& requeued;
  service::Counter& expired;                       // deleted by retention (--result_ttl)
  std::map<JobState, service::Counter*> finished;  // SUCCEEDED, FAILED, CANCELLED
  std::map<JobState, service::Gauge*> jobs;        // every state, set at scrape time
  service::Gauge& queue_depth;
  service::Gauge& workers;
  service::Histogram& queue_wait_seconds;
  service::Histogram& step_seconds;
  service::Histogram& job_seconds;
  service::Histogram& time_to_first_frame_seconds;
  service::Counter& encoder_seconds;
  service::Counter& encoder_frames;
  service::Histogram& encoder_frames_per_second;
};

}  // namespace reel::gateway
