#pragma once
// JobRecord (the store's row) → reel.v1.Job (what clients see).
#include "reel/v1/generation.pb.h"
#include "services/gateway/job_store.h"

namespace reel::gateway {

// `live_progress`: the in-memory progress of a RUNNING job (nullptr: use the stored one).
v1::Job ToJobProto(const JobRecord& record, const v1::Progress* live_progress);

bool IsTerminal(JobState state);

}  // namespace reel::gateway
