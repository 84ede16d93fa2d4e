#pragma once
// A QUEUED-to-be job record for the store tests (tests/services/*job_store*_test.cc).
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
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

// Inserts `r` as a new job (a test failure if the store refuses it or finds its key used).
inline JobRecord InsertNew(JobStore& store, const JobRecord& r, int64_t max_queued) {
  bool existed = true;
  auto job = store.Insert(r, max_queued, &existed);
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_FALSE(existed);
  return job.ok() ? *job : JobRecord{};
}

}  // namespace reel::gateway
