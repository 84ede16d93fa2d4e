#include "services/gateway/result_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "services/common/result_files.h"
#include "services/gateway/job_convert.h"

namespace reel::gateway {

ResultReader::ResultReader(Scheduler& scheduler, std::string id, service::Principal who,
                           int64_t offset, bool follow)
    : scheduler_(scheduler),
      id_(std::move(id)),
      who_(std::move(who)),
      follow_(follow),
      position_(offset) {}

ResultReader::~ResultReader() { Close(); }

void ResultReader::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  open_attempt_ = 0;
}

absl::Status ResultReader::Open(const std::string& path, int attempt) {
  Close();
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    return errno == ENOENT ? absl::NotFoundError(path)
                           : absl::DataLossError(absl::StrCat("cannot open the result of job ", id_,
                                                              ": ", std::strerror(errno)));
  }
  open_attempt_ = attempt;
  return absl::OkStatus();
}

absl::StatusOr<ResultReader::Piece> ResultReader::Next(int64_t max_bytes) {
  Piece piece;
  if (sent_last_) {
    piece.kind = Piece::kEnd;
    return piece;
  }
  absl::StatusOr<v1::Job> job = scheduler_.Get(id_, who_);
  if (!job.ok()) return job.status();
  job_ = *std::move(job);
  const v1::Job::State state = job_.state();
  piece.attempt = job_.attempts();
  const bool image = job_.request().kind() == v1::GenerateRequest::IMAGE;
  const std::string format = service::ContainerFormat(image, job_.request().output_format());
  piece.mime_type =
      state == v1::Job::SUCCEEDED ? job_.result().mime_type() : service::FormatMimeType(format);
  if (state == v1::Job::CANCELLED || state == v1::Job::FAILED ||
      (!follow_ && state != v1::Job::SUCCEEDED)) {
    std::string why = absl::StrCat("job ", id_, " is ", v1::Job::State_Name(state));
    if (state == v1::Job::FAILED) absl::StrAppend(&why, " (", job_.error().message(), ")");
    return absl::FailedPreconditionError(
        absl::StrCat(why, "; only a SUCCEEDED job has a result",
                     follow_ ? "" : " (follow streams it while the job runs)"));
  }
  // A re-queued job: the bytes sent so far belong to an attempt that will never finish.
  if (open_attempt_ != 0 && open_attempt_ != job_.attempts()) {
    Close();
    position_ = 0;
    piece.kind = Piece::kRestart;
    return piece;
  }
  int64_t available = 0;
  if (state == v1::Job::SUCCEEDED) {
    if (fd_ < 0) {
      absl::StatusOr<std::pair<std::string, v1::Job>> result = scheduler_.ResultPath(id_, who_);
      if (!result.ok()) return result.status();
      if (absl::Status s = Open(result->first, job_.attempts()); !s.ok()) {
        return absl::DataLossError(
            absl::StrCat("the result of job ", id_, " is missing from the result store"));
      }
    }
    struct stat st {};
    if (fstat(fd_, &st) != 0) return absl::DataLossError(absl::StrCat("cannot stat ", id_));
    available = static_cast<int64_t>(st.st_size);
    piece.total_bytes = available;
  } else if (state == v1::Job::RUNNING) {
    if (fd_ < 0) {
      const std::string partial = (std::filesystem::path(scheduler_.result_dir()) /
                                   service::PartialResultFileName(id_, job_.attempts(), format))
                                      .string();
      // Not there (yet, or not a progressive format): wait for the next block or the end.
      if (!Open(partial, job_.attempts()).ok()) return piece;
    }
    available = job_.progress().playable_bytes();
  } else {
    return piece;  // QUEUED: wait for a worker
  }
  if (!offset_checked_ && state == v1::Job::SUCCEEDED) {
    offset_checked_ = true;
    if (position_ < 0 || position_ > available) {
      return absl::OutOfRangeError(absl::StrCat("offset: ", position_, " is outside 0..", available,
                                                " (the result's size)"));
    }
  } else if (position_ < 0) {
    return absl::OutOfRangeError(absl::StrCat("offset: ", position_, " is negative"));
  }
  const int64_t n = std::clamp<int64_t>(available - position_, 0, max_bytes);
  if (n == 0 && state != v1::Job::SUCCEEDED) return piece;  // kWait
  piece.kind = Piece::kData;
  piece.offset = position_;
  piece.data.resize(static_cast<size_t>(n));
  int64_t done = 0;
  while (done < n) {
    const ssize_t got = pread(fd_, piece.data.data() + done, static_cast<size_t>(n - done),
                              static_cast<off_t>(position_ + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return absl::DataLossError(absl::StrCat("short read of the result of ", id_));
    done += got;
  }
  position_ += n;
  piece.last = state == v1::Job::SUCCEEDED && position_ == available;
  sent_last_ = piece.last;
  return piece;
}

}  // namespace reel::gateway
