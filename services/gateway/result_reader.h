#pragma once
// Reads a job's result for one FetchResult / GET .../result stream: the finished file, or, with
// `follow`, the growing partial file of the attempt now running (a progressive mp4/webm written
// block by block, services/encoder), up to the bytes its worker last reported as playable. Bytes of
// an attempt are never rewritten, so a follower simply reads on after the job finished; when the
// job is re-queued the reader says so (kRestart) and starts over on the new attempt, never
// splicing two attempts. Non-blocking: kWait means "nothing new yet" (wait on the scheduler's
// version of the job, then ask again). Shared by the gRPC and the HTTP front ends.
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "services/common/auth.h"
#include "services/gateway/scheduler.h"

namespace reel::gateway {

class ResultReader {
 public:
  struct Piece {
    enum Kind { kData, kRestart, kWait, kEnd };
    Kind kind = kWait;
    std::string data;         // kData
    int64_t offset = 0;       // where data starts in the attempt's result
    int64_t total_bytes = 0;  // the finished result's size; 0 while the job runs
    bool last = false;        // kData: ends the finished result
    int attempt = 0;
    std::string mime_type;
  };

  // `offset`: the first byte wanted (checked against the result's size once it is known).
  ResultReader(Scheduler& scheduler, std::string id, service::Principal who, int64_t offset,
               bool follow);
  ~ResultReader();
  ResultReader(const ResultReader&) = delete;
  ResultReader& operator=(const ResultReader&) = delete;

  // At most max_bytes of what is available now. Errors: NOT_FOUND (no such job for `who`),
  // FAILED_PRECONDITION (not SUCCEEDED without follow; CANCELLED or FAILED with follow),
  // OUT_OF_RANGE (offset past the end), DATA_LOSS (the file is gone).
  absl::StatusOr<Piece> Next(int64_t max_bytes);
  // The job as last read (valid after the first Next()).
  const v1::Job& job() const { return job_; }

 private:
  absl::Status Open(const std::string& path, int attempt);
  void Close();

  Scheduler& scheduler_;
  const std::string id_;
  const service::Principal who_;
  const bool follow_;
  int64_t position_;
  bool offset_checked_ = false;
  bool sent_last_ = false;
  int fd_ = -1;
  int open_attempt_ = 0;  // the attempt whose file fd_ reads; 0: none
  v1::Job job_;
};

}  // namespace reel::gateway
