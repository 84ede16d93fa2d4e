#include "services/gateway/worker_service.h"

#include "services/common/status.h"

namespace reel::gateway {
namespace {

using service::ToGrpc;

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const v1::RegisterWorkerRequest* request,
                                         v1::RegisterWorkerResponse* response) {
  if (absl::Status s = tokens_.Check(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.Register(*request), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (absl::Status s = tokens_.Check(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.Heartbeat(*request), response);
}

grpc::Status WorkerServiceImpl::LeaseJob(grpc::ServerContext* context,
                                         const v1::LeaseJobRequest* request,
                                         v1::LeaseJobResponse* response) {
  if (absl::Status s = tokens_.Check(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.Lease(*request, [context] { return context->IsCancelled(); }), response);
}

grpc::Status WorkerServiceImpl::ReportProgress(grpc::ServerContext* context,
                                               const v1::ReportProgressRequest* request,
                                               v1::ReportProgressResponse* response) {
  if (absl::Status s = tokens_.Check(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.ReportProgress(*request), response);
}

grpc::Status WorkerServiceImpl::FinishJob(grpc::ServerContext* context,
                                          const v1::FinishJobRequest* request,
                                          v1::FinishJobResponse* response) {
  if (absl::Status s = tokens_.Check(*context); !s.ok()) return ToGrpc(s);
  return ToGrpc(scheduler_.Finish(*request));
}

}  // namespace reel::gateway
