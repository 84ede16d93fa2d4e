#pragma once
// reel.v1.GenerationService over gRPC: authentication, edge validation, and the two streams (Watch,
// FetchResult). Job logic lives in the Scheduler.
#include "reel/v1/generation.grpc.pb.h"
#include "services/common/auth.h"
#include "services/gateway/scheduler.h"

namespace reel::gateway {

class GenerationServiceImpl final : public v1::GenerationService::Service {
 public:
  GenerationServiceImpl(Scheduler& scheduler, const service::TokenSet& tokens)
      : scheduler_(scheduler), tokens_(tokens) {}

  grpc::Status Submit(grpc::ServerContext* context, const v1::GenerateRequest* request,
                      v1::Job* response) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetJobRequest* request,
                   v1::Job* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                    v1::ListJobsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                      v1::Job* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                     grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status FetchResult(grpc::ServerContext* context, const v1::FetchResultRequest* request,
                           grpc::ServerWriter<v1::ResultChunk>* writer) override;

 private:
  Scheduler& scheduler_;
  const service::TokenSet& tokens_;
};

}  // namespace reel::gateway
