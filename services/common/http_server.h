#pragma once
// A deliberately tiny HTTP/1.0 server for GET /metrics and /healthz on a port apart from gRPC: one
// thread, one connection at a time, bounded request size and socket timeouts. Scrapers and probes
// send a few requests a minute; nothing here is meant for user traffic.
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace reel::service {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  HttpServer() = default;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before Start(). `path` is matched exactly (the query string is ignored).
  void Handle(const std::string& path, Handler handler);
  // Binds host:port (port 0: any free port) and serves on a thread. Returns the bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops serving within ~100 ms; idempotent.
  void Stop();

 private:
  void Serve();
  void ServeOne(int fd);

  std::map<std::string, Handler> handlers_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace reel::service
