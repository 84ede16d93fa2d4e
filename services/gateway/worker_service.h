#pragma once
// reel.v1.WorkerService over gRPC: authentication and delegation to the Scheduler.
#include "reel/v1/worker.grpc.pb.h"
#include "services/common/auth.h"
#include "services/gateway/scheduler.h"

namespace reel::gateway {

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Scheduler& scheduler, const service::TokenSet& tokens)
      : scheduler_(scheduler), tokens_(tokens) {}

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                        v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status LeaseJob(grpc::ServerContext* context, const v1::LeaseJobRequest* request,
                        v1::LeaseJobResponse* response) override;
  grpc::Status ReportProgress(grpc::ServerContext* context,
                              const v1::ReportProgressRequest* request,
                              v1::ReportProgressResponse* response) override;
  grpc::Status FinishJob(grpc::ServerContext* context, const v1::FinishJobRequest* request,
                         v1::FinishJobResponse* response) override;

 private:
  absl::Status Authorize(const grpc::ServerContext& context) const;

  Scheduler& scheduler_;
  const service::TokenSet& tokens_;
};

}  // namespace reel::gateway
