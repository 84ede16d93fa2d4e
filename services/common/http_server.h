#pragma once
// The HTTP server of the gateway (/metrics and /healthz; the HTTP/JSON API and the page), on
// libmicrohttpd: one event-driven thread (epoll) serves every connection concurrently, so a slow or
// stalled client (slow-loris) costs one socket, never the liveness probe's answer. A connection is
// closed at a whole-request deadline counted from its accept (a client trickling a byte per second
// never gets to hold a socket for long) unless its handler answered with a stream (Server-Sent
// Events, a result followed while it renders), idle ones sooner, at most kMaxConnections are open
// (kMaxConnectionsPerIp from one address), headers are bounded by libmicrohttpd's per-connection
// memory and bodies by max_body_bytes.
//
// Streams never block the thread: a stream with nothing to send yet suspends its connection
// (MHD_suspend_connection), and a waker thread resumes every suspended one each kStreamPollMs to
// ask again.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace reel::service {

struct HttpRequest {
  std::string method;
  std::string path;                            // without the query string, %-decoded
  std::map<std::string, std::string> query;    // decoded; a repeated key keeps the last value
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool body_too_large = false;  // the body passed max_body_bytes (`body` holds nothing then)

  const std::string* Header(const std::string& lower_name) const;
};

// A body produced piece by piece, e.g. Server-Sent Events or a growing file. Next() runs on the
// server's thread and must not block.
class HttpStream {
 public:
  enum class Step {
    kData,   // `out` holds bytes to send (more may follow)
    kWait,   // nothing now; ask again later
    kEnd,    // the body is complete
    kAbort,  // stop with an error: the client sees a truncated body (chunked: no last chunk)
  };
  virtual ~HttpStream() = default;
  virtual Step Next(std::string* out) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body comes from the stream instead of `body`, of stream_bytes bytes (-1: unknown,
  // sent chunked).
  std::unique_ptr<HttpStream> stream;
  int64_t stream_bytes = -1;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;
  using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

  static constexpr unsigned kStreamPollMs = 50;
  static constexpr size_t kDefaultMaxBodyBytes = 64 * 1024;

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
  void set_idle_timeout_seconds(unsigned seconds) { idle_timeout_seconds_ = seconds; }
  void set_max_body_bytes(size_t bytes) { max_body_bytes_ = bytes; }
  // Register before Start(). `path` is matched exactly (the query string is ignored); GET and HEAD
  // only.
  void Handle(const std::string& path, Handler handler);
  // Every request no exact path matched, any method (the HTTP/JSON API routes itself).
  void HandleOthers(RequestHandler handler) { others_ = std::move(handler); }
  // Binds host:port (port 0: any free port) and serves on a thread. Returns the bound port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops serving; idempotent.
  void Stop();

  // libmicrohttpd's callbacks (public for them only): one request; a connection closed; a stream
  // with nothing to send (suspends `connection` until the waker resumes it); a stream began (its
  // connection is no longer subject to the request deadline).
  HttpResponse Respond(const HttpRequest& request) const;
  void ConnectionClosed(int fd);
  void SuspendUntilPolled(MHD_Connection* connection);
  void Streaming(int fd);
  size_t max_body_bytes() const { return max_body_bytes_; }
  bool stopping() const { return stop_.load(); }

 private:
  // Accepts connections and hands them to libmicrohttpd (which then owns them), and shuts down
  // those past the deadline.
  void AcceptLoop();
  // Resumes the suspended streams every kStreamPollMs.
  void WakeLoop();

  std::map<std::string, Handler> handlers_;
  RequestHandler others_;
  unsigned idle_timeout_seconds_ = kIdleTimeoutSeconds;
  size_t max_body_bytes_ = kDefaultMaxBodyBytes;
  absl::Duration request_deadline_ = kDefaultRequestDeadline;
  MHD_Daemon* daemon_ = nullptr;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::thread wake_thread_;
  // Open connections by socket → when accepted (InfiniteFuture once shut down). libmicrohttpd
  // reports a close before it closes the socket, so while mu_ is held every fd here is still the
  // connection it names (never a reused number).
  std::mutex mu_;
  std::map<int, absl::Time> open_;
  std::vector<MHD_Connection*> suspended_;  // guarded by mu_
};

}  // namespace reel::service
