#include "services/common/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace reel::service {
namespace {

// Closes a socket on every path out of a scope unless released.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url, const char* method,
                  const char* /*version*/, const char* /*upload_data*/, size_t* upload_data_size,
                  void** request_state) {
  // libmicrohttpd calls once when the headers are in, then once per body chunk: answer on the
  // first call and ignore any body (these endpoints take none).
  static int marker;
  if (*request_state == nullptr) {
    *request_state = &marker;
  }
  *upload_data_size = 0;
  const auto* server = static_cast<const HttpServer*>(cls);
  const HttpResponse r = server->Respond(method, url);
  std::unique_ptr<MHD_Response, decltype(&MHD_destroy_response)> response(
      MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                      MHD_RESPMEM_MUST_COPY),
      &MHD_destroy_response);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response.get(), MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  return MHD_queue_response(connection, static_cast<unsigned>(r.status), response.get());
}

void Notify(void* cls, MHD_Connection* connection, void** /*socket_context*/,
            MHD_ConnectionNotificationCode code) {
  if (code != MHD_CONNECTION_NOTIFY_CLOSED) return;
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info != nullptr) static_cast<HttpServer*>(cls)->ConnectionClosed(info->connect_fd);
}

}  // namespace

HttpServer::~HttpServer() { Stop(); }

void HttpServer::ConnectionClosed(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(fd);
}

void HttpServer::AcceptLoop() {
  constexpr int kPollMs = 100;
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMs) > 0) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
      if (fd >= 0) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          open_[fd] = absl::Now();
        }
        // On failure (e.g. the connection limits) libmicrohttpd has closed the socket.
        if (MHD_add_connection(daemon_, fd, reinterpret_cast<sockaddr*>(&addr), len) != MHD_YES) {
          std::lock_guard<std::mutex> lock(mu_);
          open_.erase(fd);
        }
      }
    }
    // The whole-request deadline: shutting the socket down makes libmicrohttpd see the end of the
    // stream and close the connection on its own thread.
    const absl::Time now = absl::Now();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [fd, accepted] : open_) {
      if (now - accepted > request_deadline_) {
        shutdown(fd, SHUT_RDWR);
        accepted = absl::InfiniteFuture();
      }
    }
  }
}

void HttpServer::Handle(const std::string& path, Handler handler) {
  handlers_[path] = std::move(handler);
}

HttpResponse HttpServer::Respond(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "only GET\n"};
  }
  const auto it = handlers_.find(path);  // libmicrohttpd passes the path without the query
  if (it == handlers_.end()) return {404, "text/plain; charset=utf-8", "not found\n"};
  return it->second();
}

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  // The socket is bound here rather than by libmicrohttpd so that any host name or address
  // (IPv4 or IPv6) works the same way as elsewhere in reel, and port 0 reports the port it got.
  if (daemon_ != nullptr) return absl::FailedPreconditionError("http: already started");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("http: cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  ScopedFd fd(socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol));
  if (fd.get() < 0)
    return absl::InternalError(absl::StrCat("http: socket: ", std::strerror(errno)));
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0 || listen(fd.get(), 64) != 0) {
    return absl::UnavailableError(
        absl::StrCat("http: cannot listen on ", host, ":", port, ": ", std::strerror(errno)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  // We accept (AcceptLoop) and hand each socket over, so that we know when it was accepted.
  daemon_ = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC, 0, nullptr, nullptr,
      &Answer, this, MHD_OPTION_NOTIFY_CONNECTION, &Notify, this, MHD_OPTION_CONNECTION_TIMEOUT,
      kIdleTimeoutSeconds, MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, kMaxConnectionsPerIp, MHD_OPTION_END);
  if (daemon_ == nullptr) {
    return absl::InternalError(absl::StrCat("http: cannot start the server on ", host, ":", port));
  }
  listen_fd_ = fd.release();
  stop_ = false;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return bound_port;
}

void HttpServer::Stop() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);  // closes every connection it holds
    daemon_ = nullptr;
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

}  // namespace reel::service
