#pragma once
// reel.v1.GenerationService over HTTP/JSON, one to one with the gRPC methods and with protobuf's
// own JSON mapping (lowerCamelCase names, int64 as strings, enums by name), served by the gateway's
// libmicrohttpd server next to /metrics and /healthz, plus the page at `/`:
//
//   POST /v1/jobs                   GenerateRequest → Job                      (Submit)
//   GET  /v1/jobs/{id}              → Job                                      (Get)
//   GET  /v1/jobs?pageSize=&pageToken=&states=RUNNING,QUEUED → ListJobsResponse (List)
//   POST /v1/jobs/{id}:cancel       → Job                                      (Cancel)
//   GET  /v1/jobs/{id}/events[?previews=true]  text/event-stream               (Watch)
//   GET  /v1/jobs/{id}/result[?follow=true&offset=N]  the bytes, Range on a finished result
//   GET  /v1/models                 → ListModelsResponse                       (ListModels)
//
// Same bearer tokens (`Authorization: Bearer …`), validation, limits and per-client stream caps as
// gRPC (the calls go through GenerationServiceImpl); errors are JSON
// {"error": {"code": <HTTP status>, "status": "INVALID_ARGUMENT", "message": "..."}} with the gRPC
// code's usual HTTP status (google.rpc mapping: 400, 401, 403, 404, 409, 429, 499, 500, 503, …).
#include "services/common/http_server.h"
#include "services/gateway/generation_service.h"

namespace reel::gateway {

class HttpApi {
 public:
  explicit HttpApi(GenerationServiceImpl& service) : service_(service) {}
  // Routes every request the server has no exact handler for.
  service::HttpResponse Serve(const service::HttpRequest& request);

 private:
  GenerationServiceImpl& service_;
};

// The HTTP status of a gRPC/absl code (google/rpc/code.proto's mapping).
int HttpStatusOf(absl::StatusCode code);
// {"error": {...}} for `status`.
service::HttpResponse JsonError(const absl::Status& status);

}  // namespace reel::gateway
