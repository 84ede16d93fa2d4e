#pragma once
// The events of one Watch stream (gRPC Watch, HTTP Server-Sent Events), in order: a snapshot, then
// progress and preview events while the job runs, then the final job. Shared by both front ends so
// that they cannot drift apart.
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/auth.h"
#include "services/gateway/scheduler.h"

namespace reel::gateway {

class JobEventCursor {
 public:
  JobEventCursor(Scheduler& scheduler, std::string id, service::Principal who, bool previews)
      : scheduler_(scheduler), id_(std::move(id)), who_(std::move(who)), previews_(previews) {}

  // The next event, waiting for a change until `deadline` (a past deadline: only what is ready
  // now); nullopt when none came. After the final event, done() is true. Errors: the job's
  // (NOT_FOUND), UNAVAILABLE when the server is stopping.
  absl::StatusOr<std::optional<v1::JobEvent>> Next(absl::Time deadline);
  bool done() const { return done_; }

 private:
  Scheduler& scheduler_;
  const std::string id_;
  const service::Principal who_;
  const bool previews_;
  bool started_ = false;
  bool done_ = false;
  uint64_t version_ = 0;
  v1::Job job_;
  v1::ProgressEvent last_;
  size_t next_preview_ = 0;
  std::deque<v1::Preview> pending_;
};

// What a progress event carries: the job's state, progress, attempts and cancel flag.
v1::ProgressEvent ProgressOf(const v1::Job& job);

}  // namespace reel::gateway
