#pragma once
// A small HTTP server for GET /metrics and /healthz on a port apart from gRPC, on libmicrohttpd:
// one event-driven thread (epoll) serves every connection concurrently, so a slow or stalled
// client (slow-loris) costs one socket, never the liveness probe's answer. Every connection is
// closed at a whole-request deadline counted from its accept (a client trickling a byte per second
// never gets to hold a socket for long), idle ones sooner, at most kMaxConnections are open
// (kMaxConnectionsPerIp from one address), and headers are bounded by libmicrohttpd's
// per-connection memory.
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

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
  static constexpr absl::Duration kDefaultRequestDeadline = absl::Seconds(10);
  static constexpr unsigned kMaxConnections = 256;
  static constexpr unsigned kMaxConnectionsPerIp = 64;

  HttpServer() = default;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Before Start(): how long a connection may live from accept to close (a keep-alive client just
  // reconnects).
  void set_request_deadline(absl::Duration d) { request_deadline_ = d; }
  // Register before Start(). `path` is matched exactly (the query string is ignored).
  void Handle(const std::string& path, Handler handler);
  // Binds host:port (port 0: any free port) and serves on a thread. Returns the bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops serving; idempotent.
  void Stop();

  // libmicrohttpd's callbacks (public for them only): one request; a connection closed.
  HttpResponse Respond(const std::string& method, const std::string& path) const;
  void ConnectionClosed(int fd);

 private:
  // Accepts connections and hands them to libmicrohttpd (which then owns them), and shuts down
  // those past the deadline.
  void AcceptLoop();

  std::map<std::string, Handler> handlers_;
  absl::Duration request_deadline_ = kDefaultRequestDeadline;
  MHD_Daemon* daemon_ = nullptr;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  // Open connections by socket → when accepted (InfiniteFuture once shut down). libmicrohttpd
  // reports a close before it closes the socket, so while mu_ is held every fd here is still the
  // connection it names (never a reused number).
  std::mutex mu_;
  std::map<int, absl::Time> open_;
};

}  // namespace reel::service
