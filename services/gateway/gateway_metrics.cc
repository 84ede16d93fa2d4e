#include "services/gateway/gateway_metrics.h"

#include "absl/strings/str_cat.h"

namespace reel::gateway {
namespace {

std::string StateLabel(JobState s) {
  return absl::StrCat("state=\"", v1::Job::State_Name(s), "\"");
}

}  // namespace

GatewayMetrics::GatewayMetrics(service::MetricsRegistry& r)
    : submitted(r.AddCounter("reel_jobs_submitted_total",
                             "Jobs accepted by Submit (not idempotent repeats).")),
      requeued(r.AddCounter(
          "reel_jobs_requeued_total",
          "RUNNING jobs put back in the queue (worker lost, gateway restart, release).")),
      expired(r.AddCounter("reel_jobs_expired_total",
                           "Finished jobs and results deleted by retention (--result_ttl).")),
      queue_depth(r.AddGauge("reel_queue_depth", "Jobs waiting in state QUEUED.")),
      workers(r.AddGauge("reel_workers", "Workers registered and heartbeating.")),
      queue_wait_seconds(r.AddHistogram("reel_queue_wait_seconds",
                                        "Seconds from Submit to a worker leasing the job.",
                                        service::ExponentialBuckets(0.001, 2.0, 20))),
      step_seconds(r.AddHistogram("reel_step_seconds", "Wall-clock seconds of one denoising step.",
                                  service::ExponentialBuckets(0.001, 2.0, 18))),
      job_seconds(r.AddHistogram("reel_job_seconds", "Seconds from lease to SUCCEEDED.",
                                 service::ExponentialBuckets(0.01, 2.0, 20))),
      time_to_first_frame_seconds(r.AddHistogram(
          "reel_time_to_first_frame_seconds",
          "Seconds from Submit to the first playable bytes of the result (first block encoded).",
          service::ExponentialBuckets(0.01, 2.0, 20))),
      encoder_seconds(
          r.AddCounter("reel_encoder_seconds_total", "Seconds spent in the encoder sink.")),
      encoder_frames(
          r.AddCounter("reel_encoder_frames_total", "Frames handed to the encoder sink.")),
      encoder_frames_per_second(
          r.AddHistogram("reel_encoder_frames_per_second",
                         "Encoder throughput per finished job, frames per second.",
                         service::ExponentialBuckets(1.0, 2.0, 16))) {
  for (JobState s : {v1::Job::SUCCEEDED, v1::Job::FAILED, v1::Job::CANCELLED}) {
    finished[s] = &r.AddCounter("reel_jobs_finished_total", "Jobs that reached a terminal state.",
                                StateLabel(s));
  }
  for (JobState s : {v1::Job::QUEUED, v1::Job::RUNNING, v1::Job::SUCCEEDED, v1::Job::FAILED,
                     v1::Job::CANCELLED}) {
    jobs[s] = &r.AddGauge("reel_jobs", "Jobs in the store by state.", StateLabel(s));
  }
}

}  // namespace reel::gateway
