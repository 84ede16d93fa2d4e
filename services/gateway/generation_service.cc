#include "services/gateway/generation_service.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/limits.h"
#include "services/common/status.h"
#include "services/gateway/budget.h"
#include "services/gateway/job_convert.h"
#include "services/gateway/job_events.h"
#include "services/gateway/validation.h"

namespace reel::gateway {
namespace {

using service::ToGrpc;

constexpr absl::Duration kWatchSlice = absl::Milliseconds(250);  // re-check the client this often

const grpc::Status kClientGone(grpc::StatusCode::CANCELLED, "the client went away");

// Runs `call` for the authorized caller and copies its answer into `response`.
template <typename Response, typename Call>
grpc::Status Answer(const absl::StatusOr<service::Principal>& who, Response* response, Call call) {
  if (!who.ok()) return ToGrpc(who.status());
  auto result = call(*who);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

absl::StatusOr<service::Principal> GenerationServiceImpl::Caller(
    const grpc::ServerContext& context) const {
  return tokens_.Authorize(context, {service::Role::kClient, service::Role::kAdmin});
}

absl::StatusOr<service::Principal> GenerationServiceImpl::Caller(
    const std::string* authorization) const {
  return tokens_.Authorize(authorization, {service::Role::kClient, service::Role::kAdmin});
}

absl::StatusOr<v1::Job> GenerationServiceImpl::Submit(const service::Principal& who,
                                                      const v1::GenerateRequest& request) {
  const std::vector<v1::ModelDescription> served = scheduler_.ServedModels();
  if (absl::Status s = ValidateGenerateRequest(request, served); !s.ok()) return s;
  if (absl::Status s = CheckJobBudget(request, served, options_.max_job_cost); !s.ok()) return s;
  if (absl::Status s = CheckJobMemory(request, served); !s.ok()) return s;
  return scheduler_.Submit(request, who);
}

absl::StatusOr<v1::Job> GenerationServiceImpl::Get(const service::Principal& who,
                                                   const v1::GetJobRequest& request) {
  if (absl::Status s = ValidateJobId(request.id()); !s.ok()) return s;
  return scheduler_.Get(request.id(), who);
}

absl::StatusOr<v1::ListJobsResponse> GenerationServiceImpl::List(
    const service::Principal& who, const v1::ListJobsRequest& request) {
  return scheduler_.List(request, who);
}

absl::StatusOr<v1::Job> GenerationServiceImpl::Cancel(const service::Principal& who,
                                                      const v1::CancelJobRequest& request) {
  if (absl::Status s = ValidateJobId(request.id()); !s.ok()) return s;
  return scheduler_.Cancel(request.id(), who);
}

absl::Status GenerationServiceImpl::Delete(const service::Principal& who,
                                           const v1::DeleteJobRequest& request) {
  if (absl::Status s = ValidateJobId(request.id()); !s.ok()) return s;
  return scheduler_.Delete(request.id(), who);
}

grpc::Status GenerationServiceImpl::Submit(grpc::ServerContext* context,
                                           const v1::GenerateRequest* request, v1::Job* response) {
  return Answer(Caller(*context), response,
                [&](const service::Principal& who) { return Submit(who, *request); });
}

grpc::Status GenerationServiceImpl::Get(grpc::ServerContext* context,
                                        const v1::GetJobRequest* request, v1::Job* response) {
  return Answer(Caller(*context), response,
                [&](const service::Principal& who) { return Get(who, *request); });
}

grpc::Status GenerationServiceImpl::List(grpc::ServerContext* context,
                                         const v1::ListJobsRequest* request,
                                         v1::ListJobsResponse* response) {
  return Answer(Caller(*context), response,
                [&](const service::Principal& who) { return List(who, *request); });
}

grpc::Status GenerationServiceImpl::Cancel(grpc::ServerContext* context,
                                           const v1::CancelJobRequest* request, v1::Job* response) {
  return Answer(Caller(*context), response,
                [&](const service::Principal& who) { return Cancel(who, *request); });
}

grpc::Status GenerationServiceImpl::Delete(grpc::ServerContext* context,
                                           const v1::DeleteJobRequest* request,
                                           google::protobuf::Empty* /*response*/) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  return ToGrpc(Delete(*who, *request));
}

grpc::Status GenerationServiceImpl::Watch(grpc::ServerContext* context,
                                          const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::JobEvent>* writer) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  if (absl::Status s = ValidateJobId(request->id()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<StreamLimiter::Slot> slot = streams_.Acquire(who->name);
  if (!slot.ok()) return ToGrpc(slot.status());
  JobEventCursor events(scheduler_, request->id(), *who, request->previews());
  while (!events.done()) {
    // Wake regularly to notice a client that left.
    if (context->IsCancelled()) return kClientGone;
    absl::StatusOr<std::optional<v1::JobEvent>> event = events.Next(absl::Now() + kWatchSlice);
    if (!event.ok()) return ToGrpc(event.status());
    if (event->has_value() && !writer->Write(**event) && !events.done()) return kClientGone;
  }
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
  ResultReader reader(scheduler_, request->id(), *who, request->offset(), request->follow());
  v1::ResultChunk chunk;
  for (;;) {
    if (context->IsCancelled()) return kClientGone;
    const uint64_t version = scheduler_.Version(request->id());
    absl::StatusOr<ResultReader::Piece> piece = reader.Next(chunk_bytes);
    if (!piece.ok()) return ToGrpc(piece.status());
    switch (piece->kind) {
      case ResultReader::Piece::kEnd:
        return grpc::Status::OK;
      case ResultReader::Piece::kWait:
        if (scheduler_.stopping()) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
        }
        scheduler_.WaitForChange(request->id(), version, absl::Now() + kWatchSlice);
        continue;
      case ResultReader::Piece::kRestart:
      case ResultReader::Piece::kData:
        break;
    }
    chunk.Clear();
    chunk.set_offset(piece->offset);
    chunk.set_data(std::move(piece->data));
    chunk.set_total_bytes(piece->total_bytes);
    chunk.set_mime_type(piece->mime_type);
    chunk.set_last(piece->last);
    chunk.set_attempt(piece->attempt);
    chunk.set_restart(piece->kind == ResultReader::Piece::kRestart);
    if (!writer->Write(chunk)) return kClientGone;
  }
}

v1::ListModelsResponse GenerationServiceImpl::ListModels() {
  v1::ListModelsResponse response;
  for (const auto& [m, workers] : scheduler_.ModelsWithWorkers()) {
    v1::ModelInfo* info = response.add_models();
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
  return response;
}

grpc::Status GenerationServiceImpl::ListModels(grpc::ServerContext* context,
                                               const v1::ListModelsRequest* /*request*/,
                                               v1::ListModelsResponse* response) {
  absl::StatusOr<service::Principal> who = Caller(*context);
  if (!who.ok()) return ToGrpc(who.status());
  *response = ListModels();
  return grpc::Status::OK;
}

}  // namespace reel::gateway
