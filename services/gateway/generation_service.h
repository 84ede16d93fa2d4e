#pragma once
// reel.v1.GenerationService over gRPC: authentication, edge validation, and the two streams (Watch,
// FetchResult). Job logic lives in the Scheduler. The unary calls are also public as plain
// functions of (caller, request) for the HTTP/JSON front end (http_api.h), so both share
// validation, limits and errors; the streams share JobEventCursor and ResultReader.
#include "reel/v1/generation.grpc.pb.h"
#include "services/common/auth.h"
#include "services/gateway/result_reader.h"
#include "services/gateway/scheduler.h"
#include "services/gateway/stream_limiter.h"

namespace reel::gateway {

struct GenerationServiceOptions {
  int max_streams_per_client = 32;  // open Watch + FetchResult streams per client (0: no cap)
  int64_t max_job_cost = 0;         // width × height × frames × steps per job (0: no budget)
};

class GenerationServiceImpl final : public v1::GenerationService::Service {
 public:
  GenerationServiceImpl(Scheduler& scheduler, const service::TokenSet& tokens,
                        GenerationServiceOptions options = {})
      : scheduler_(scheduler),
        tokens_(tokens),
        options_(options),
        streams_(options.max_streams_per_client) {}

  grpc::Status Submit(grpc::ServerContext* context, const v1::GenerateRequest* request,
                      v1::Job* response) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetJobRequest* request,
                   v1::Job* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                    v1::ListJobsResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteJobRequest* request,
                      google::protobuf::Empty* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                      v1::Job* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                     grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status FetchResult(grpc::ServerContext* context, const v1::FetchResultRequest* request,
                           grpc::ServerWriter<v1::ResultChunk>* writer) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;

  // --- the same calls for an authorized caller (HTTP/JSON) ---
  // The caller of an `authorization` header value (nullptr: none), if it may use this service.
  absl::StatusOr<service::Principal> Caller(const std::string* authorization) const;
  absl::StatusOr<v1::Job> Submit(const service::Principal& who, const v1::GenerateRequest& request);
  absl::StatusOr<v1::Job> Get(const service::Principal& who, const v1::GetJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> List(const service::Principal& who,
                                            const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> Cancel(const service::Principal& who,
                                 const v1::CancelJobRequest& request);
  absl::Status Delete(const service::Principal& who, const v1::DeleteJobRequest& request);
  v1::ListModelsResponse ListModels();
  // A slot for one more open stream of `who` (RESOURCE_EXHAUSTED beyond the per-client cap).
  absl::StatusOr<StreamLimiter::Slot> AcquireStream(const service::Principal& who) {
    return streams_.Acquire(who.name);
  }
  Scheduler& scheduler() { return scheduler_; }

 private:
  // The caller, if its token may use this service (client or admin).
  absl::StatusOr<service::Principal> Caller(const grpc::ServerContext& context) const;

  Scheduler& scheduler_;
  const service::TokenSet& tokens_;
  const GenerationServiceOptions options_;
  StreamLimiter streams_;
};

}  // namespace reel::gateway
