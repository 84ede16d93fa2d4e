#pragma once
// A small HTTP server for GET /metrics and /healthz on a port apart from gRPC, on libmicrohttpd:
// one event-driven thread (epoll) serves every connection concurrently, so a slow or stalled
// client (slow-loris) costs one socket, never the liveness probe's answer. Connections idle for
// kIdleTimeoutSeconds are closed, at most kMaxConnections are open (kMaxConnectionsPerIp from
// one address), and a request's headers are bounded by libmicrohttpd's per-connection memory.
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"

struct MHD_Daemon;

namespace reel::service {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  static constexpr unsigned kIdleTimeoutSeconds = 5;
  static constexpr unsigned kMaxConnections = 256;
  static constexpr unsigned kMaxConnectionsPerIp = 64;

  HttpServer() = default;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before Start(). `path` is matched exactly (the query string is ignored).
  void Handle(const std::string& path, Handler handler);
  // Binds host:port (port 0: any free port) and serves on a thread. Returns the bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops serving; idempotent.
  void Stop();

  // Answers one request (libmicrohttpd's callback; public for it only).
  HttpResponse Respond(const std::string& method, const std::string& path) const;

 private:
  std::map<std::string, Handler> handlers_;
  MHD_Daemon* daemon_ = nullptr;
};

}  // namespace reel::service
