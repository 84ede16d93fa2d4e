#pragma once
// A QUEUED-to-be job record for the store tests (tests/services/*job_store*_test.cc).
#include <string>

#include "absl/time/time.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

inline JobRecord NewJob(const std::string& id, int priority = 0, const std::string& key = "",
                        const std::string& model = "", const std::string& owner = "") {
  JobRecord r;
  r.id = id;
  r.owner = owner;
  r.priority = priority;
  r.idempotency_key = key;
  r.model = model;
  r.request.set_prompt("a red ball");
  r.request.set_model(model);
  r.request_hash = 42;
  r.create_time = absl::FromUnixMillis(1700000000000);
  return r;
}

}  // namespace reel::gateway
