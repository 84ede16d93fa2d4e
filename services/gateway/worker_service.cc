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

absl::Status WorkerServiceImpl::Authorize(const grpc::ServerContext& context) const {
  // Only worker tokens: a client token must not be able to register a fake worker, lease another
  // client's job and fail it with a message of its choosing.
  return tokens_.Authorize(context, {service::Role::kWorker}).status();
}

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const v1::RegisterWorkerRequest* request,
                                         v1::RegisterWorkerResponse* response) {
  if (absl::Status s = Authorize(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.Register(*request), response);
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (absl::Status s = Authorize(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.Heartbeat(*request), response);
}

grpc::Status WorkerServiceImpl::LeaseJob(grpc::ServerContext* context,
                                         const v1::LeaseJobRequest* request,
                                         v1::LeaseJobResponse* response) {
  if (absl::Status s = Authorize(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.Lease(*request, [context] { return context->IsCancelled(); }), response);
}

grpc::Status WorkerServiceImpl::ReportProgress(grpc::ServerContext* context,
                                               const v1::ReportProgressRequest* request,
                                               v1::ReportProgressResponse* response) {
  if (absl::Status s = Authorize(*context); !s.ok()) return ToGrpc(s);
  return Reply(scheduler_.ReportProgress(*request), response);
}

grpc::Status WorkerServiceImpl::FinishJob(grpc::ServerContext* context,
                                          const v1::FinishJobRequest* request,
                                          v1::FinishJobResponse* response) {
  if (absl::Status s = Authorize(*context); !s.ok()) return ToGrpc(s);
  return ToGrpc(scheduler_.Finish(*request));
}

}  // namespace reel::gateway
