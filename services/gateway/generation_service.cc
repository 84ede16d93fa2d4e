#include "services/gateway/generation_service.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/common/limits.h"
#include "services/common/status.h"
#include "services/gateway/budget.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/validation.h"

namespace reel::gateway {
namespace {

using service::ToGrpc;

constexpr absl::Duration kWatchSlice = absl::Milliseconds(250);  // re-check the client this often

v1::ProgressEvent ProgressOf(const v1::Job& job) {
  v1::ProgressEvent e;
  e.set_state(job.state());
  *e.mutable_progress() = job.progress();
  e.set_attempts(job.attempts());
  e.set_cancel_requested(job.cancel_requested());
  return e;
}

}  // namespace

absl::StatusOr<service::Principal> GenerationServiceImpl::Caller(
    const grpc::ServerContext& context) const {
  return tokens_.Authorize(context, {service::Role::kClient, service::Role::kAdmin});
}

grpc::Status GenerationServiceImpl::Submit(grpc::ServerContext* context,
                                           const v1::GenerateRequest* request, v1::Job* response) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  const std::vector<v1::ModelDescription> served = scheduler_.ServedModels();
  if (absl::Status s = ValidateGenerateRequest(*request, served); !s.ok()) return ToGrpc(s);
  if (absl::Status s = CheckJobBudget(*request, served, options_.max_job_cost); !s.ok())
    return ToGrpc(s);
  if (absl::Status s = CheckJobMemory(*request, served); !s.ok()) return ToGrpc(s);
  absl::StatusOr<v1::Job> job = scheduler_.Submit(*request, *who);
  if (!job.ok()) return ToGrpc(job.status());
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status GenerationServiceImpl::Get(grpc::ServerContext* context,
                                        const v1::GetJobRequest* request, v1::Job* response) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  if (absl::Status s = ValidateJobId(request->id()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<v1::Job> job = scheduler_.Get(request->id(), *who);
  if (!job.ok()) return ToGrpc(job.status());
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status GenerationServiceImpl::List(grpc::ServerContext* context,
                                         const v1::ListJobsRequest* request,
                                         v1::ListJobsResponse* response) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  absl::StatusOr<v1::ListJobsResponse> page = scheduler_.List(*request, *who);
  if (!page.ok()) return ToGrpc(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status GenerationServiceImpl::Cancel(grpc::ServerContext* context,
                                           const v1::CancelJobRequest* request, v1::Job* response) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  if (absl::Status s = ValidateJobId(request->id()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<v1::Job> job = scheduler_.Cancel(request->id(), *who);
  if (!job.ok()) return ToGrpc(job.status());
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status GenerationServiceImpl::Delete(grpc::ServerContext* context,
                                           const v1::DeleteJobRequest* request,
                                           google::protobuf::Empty* /*response*/) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  if (absl::Status s = ValidateJobId(request->id()); !s.ok()) return ToGrpc(s);
  return ToGrpc(scheduler_.Delete(request->id(), *who));
}

grpc::Status GenerationServiceImpl::Watch(grpc::ServerContext* context,
                                          const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::JobEvent>* writer) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  if (absl::Status s = ValidateJobId(request->id()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<StreamLimiter::Slot> slot = streams_.Acquire(who->name);
  if (!slot.ok()) return ToGrpc(slot.status());
  const std::string& id = request->id();
  // Read the version before the job, so that a change between the two is seen by the first wait.
  uint64_t version = scheduler_.Version(id);
  absl::StatusOr<v1::Job> job = scheduler_.Get(id, *who);
  if (!job.ok()) return ToGrpc(job.status());
  v1::JobEvent event;
  *event.mutable_snapshot() = *job;
  if (!writer->Write(event))
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  v1::ProgressEvent last = ProgressOf(*job);
  size_t next_preview = 0;
  for (;;) {
    if (request->previews()) {
      for (v1::Preview& p : scheduler_.PreviewsSince(id, next_preview, &next_preview)) {
        event.Clear();
        *event.mutable_preview() = std::move(p);
        if (!writer->Write(event))
          return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      }
    }
    if (IsTerminal(job->state())) break;
    const v1::ProgressEvent now = ProgressOf(*job);
    if (!google::protobuf::util::MessageDifferencer::Equals(now, last)) {
      event.Clear();
      *event.mutable_progress() = now;
      if (!writer->Write(event))
        return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      last = now;
    }
    // Wait for the next change, waking regularly to notice a client that left or a server stopping.
    uint64_t seen = version;
    while (seen == version) {
      if (context->IsCancelled())
        return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      if (scheduler_.stopping())
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
      version = scheduler_.WaitForChange(id, seen, absl::Now() + kWatchSlice);
    }
    job = scheduler_.Get(id, *who);
    if (!job.ok()) return ToGrpc(job.status());
  }
  event.Clear();
  *event.mutable_final() = *job;
  writer->Write(event);
  return grpc::Status::OK;
}

grpc::Status GenerationServiceImpl::FetchResult(grpc::ServerContext* context,
                                                const v1::FetchResultRequest* request,
                                                grpc::ServerWriter<v1::ResultChunk>* writer) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  if (absl::Status s = ValidateJobId(request->id()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<StreamLimiter::Slot> slot = streams_.Acquire(who->name);
  if (!slot.ok()) return ToGrpc(slot.status());
  if (request->chunk_bytes() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "chunk_bytes: must not be negative");
  }
  const int chunk_bytes = request->chunk_bytes() == 0
                              ? service::kDefaultChunkBytes
                              : std::min(request->chunk_bytes(), service::kMaxChunkBytes);
  absl::StatusOr<std::pair<std::string, v1::Job>> result =
      scheduler_.ResultPath(request->id(), *who);
  if (!result.ok()) return ToGrpc(result.status());
  const auto& [path, job] = *result;
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const int64_t total = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (!in || ec) {
    return grpc::Status(
        grpc::StatusCode::DATA_LOSS,
        absl::StrCat("the result of job ", request->id(), " is missing from the result store"));
  }
  int64_t offset = request->offset();
  if (offset < 0 || offset > total) {
    return grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("offset: ", offset, " is outside 0..", total, " (the result's size)"));
  }
  in.seekg(offset);
  std::vector<char> buffer(static_cast<size_t>(chunk_bytes));
  v1::ResultChunk chunk;
  do {
    if (context->IsCancelled())
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    const int64_t n = std::min<int64_t>(chunk_bytes, total - offset);
    in.read(buffer.data(), n);
    if (in.gcount() != n) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, absl::StrCat("short read of ", path));
    }
    chunk.set_offset(offset);
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    chunk.set_total_bytes(total);
    chunk.set_mime_type(job.result().mime_type());
    offset += n;
    chunk.set_last(offset == total);
    if (!writer->Write(chunk))
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  } while (offset < total);
  return grpc::Status::OK;
}

grpc::Status GenerationServiceImpl::ListModels(grpc::ServerContext* context,
                                               const v1::ListModelsRequest* /*request*/,
                                               v1::ListModelsResponse* response) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  for (const auto& [m, workers] : scheduler_.ModelsWithWorkers()) {
    v1::ModelInfo* info = response->add_models();
    info->set_name(m.name());
    info->set_default_width(m.default_width());
    info->set_default_height(m.default_height());
    info->set_default_frames(m.default_frames());
    info->set_default_fps(m.default_fps());
    info->set_default_steps(m.default_steps());
    info->set_spatial_factor(std::max(m.spatial_factor(), service::kSideMultiple));
    info->set_block_frames(m.temporal_factor());
    info->set_max_frames(m.max_frames() > 0 ? std::min(m.max_frames(), service::kMaxFrames)
                                            : service::kMaxFrames);
    info->set_min_side(service::kMinSide);
    info->set_max_side(service::kMaxSide);
    info->set_max_steps(service::kMaxSteps);
    info->set_attention(m.attention());
    info->set_workers(workers);
    info->set_max_job_cost(options_.max_job_cost);
    info->set_base_memory_bytes(m.base_memory_bytes());
    info->set_memory_bytes_per_pixel(m.memory_bytes_per_pixel());
    info->set_memory_limit_bytes(m.memory_limit_bytes());
  }
  return grpc::Status::OK;
}

}  // namespace reel::gateway
