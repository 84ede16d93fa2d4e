#include "services/common/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
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

// One request's state across libmicrohttpd's calls (headers, then body pieces, then the end).
struct RequestState {
  HttpRequest request;
};

MHD_Result CollectValue(void* cls, MHD_ValueKind kind, const char* key, const char* value) {
  auto* request = static_cast<HttpRequest*>(cls);
  if (key == nullptr) return MHD_YES;
  if (kind == MHD_HEADER_KIND) {
    request->headers[absl::AsciiStrToLower(key)] = value == nullptr ? "" : value;
  } else if (kind == MHD_GET_ARGUMENT_KIND) {
    request->query[key] = value == nullptr ? "" : value;
  }
  return MHD_YES;
}

// A streamed body: what the HttpStream produced and the connection to suspend while it waits.
struct StreamContext {
  HttpServer* server;
  MHD_Connection* connection;
  std::unique_ptr<HttpStream> stream;
  std::string pending;
  size_t sent = 0;  // of pending
};

ssize_t ReadStream(void* cls, uint64_t /*pos*/, char* buf, size_t max) {
  auto* c = static_cast<StreamContext*>(cls);
  while (c->sent == c->pending.size()) {
    if (c->server->stopping()) return MHD_CONTENT_READER_END_WITH_ERROR;
    c->pending.clear();
    c->sent = 0;
    switch (c->stream->Next(&c->pending)) {
      case HttpStream::Step::kData:
        break;
      case HttpStream::Step::kWait:
        c->server->SuspendUntilPolled(c->connection);
        return 0;
      case HttpStream::Step::kEnd:
        return MHD_CONTENT_READER_END_OF_STREAM;
      case HttpStream::Step::kAbort:
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  }
  const size_t n = std::min(max, c->pending.size() - c->sent);
  std::memcpy(buf, c->pending.data() + c->sent, n);
  c->sent += n;
  return static_cast<ssize_t>(n);
}

void FreeStream(void* cls) { delete static_cast<StreamContext*>(cls); }

MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url, const char* method,
                  const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                  void** request_state) {
  // libmicrohttpd calls once when the headers are in, once per body piece, and once at the end
  // (upload_data_size 0): the answer goes out on that last call.
  auto* server = static_cast<HttpServer*>(cls);
  auto* state = static_cast<RequestState*>(*request_state);
  if (state == nullptr) {
    auto fresh = std::make_unique<RequestState>();
    fresh->request.method = method;
    fresh->request.path = url;
    *request_state = fresh.release();  // freed by RequestCompleted
    return MHD_YES;
  }
  HttpRequest& request = state->request;
  if (*upload_data_size > 0) {
    if (!request.body_too_large) {
      if (request.body.size() + *upload_data_size > server->max_body_bytes()) {
        request.body_too_large = true;
        request.body.clear();
      } else {
        request.body.append(upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  MHD_get_connection_values(connection,
                            static_cast<MHD_ValueKind>(MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND),
                            &CollectValue, &request);
  HttpResponse r = server->Respond(request);
  std::unique_ptr<MHD_Response, decltype(&MHD_destroy_response)> response(nullptr,
                                                                          &MHD_destroy_response);
  if (r.stream != nullptr) {
    auto context = std::make_unique<StreamContext>();
    context->server = server;
    context->connection = connection;
    context->stream = std::move(r.stream);
    response.reset(MHD_create_response_from_callback(
        r.stream_bytes < 0 ? MHD_SIZE_UNKNOWN : static_cast<uint64_t>(r.stream_bytes), 64 * 1024,
        &ReadStream, context.get(), &FreeStream));
    if (response != nullptr) context.release();  // owned by the response now
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info != nullptr) server->Streaming(info->connect_fd);
  } else {
    response.reset(MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                   MHD_RESPMEM_MUST_COPY));
  }
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response.get(), MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  for (const auto& [name, value] : r.headers) {
    MHD_add_response_header(response.get(), name.c_str(), value.c_str());
  }
  return MHD_queue_response(connection, static_cast<unsigned>(r.status), response.get());
}

void RequestCompleted(void* /*cls*/, MHD_Connection* /*connection*/, void** request_state,
                      MHD_RequestTerminationCode /*code*/) {
  delete static_cast<RequestState*>(*request_state);
  *request_state = nullptr;
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

const std::string* HttpRequest::Header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? nullptr : &it->second;
}

HttpResponse HttpServer::Respond(const HttpRequest& request) const {
  const auto it = handlers_.find(request.path);  // libmicrohttpd passes the path without the query
  if (it == handlers_.end() && others_) return others_(request);
  HttpResponse r;
  if (request.method != "GET" && request.method != "HEAD") {
    r.status = 405;
    r.body = "only GET\n";
    return r;
  }
  if (it == handlers_.end()) {
    r.status = 404;
    r.body = "not found\n";
    return r;
  }
  return it->second();
}

void HttpServer::SuspendUntilPolled(MHD_Connection* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_.load()) return;  // Stop() resumed everything already; the stream will be asked again
  MHD_suspend_connection(connection);
  suspended_.push_back(connection);
}

void HttpServer::Streaming(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = open_.find(fd);
  if (it != open_.end()) it->second = absl::InfiniteFuture();
}

void HttpServer::WakeLoop() {
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kStreamPollMs));
    std::lock_guard<std::mutex> lock(mu_);
    for (MHD_Connection* c : suspended_) MHD_resume_connection(c);
    suspended_.clear();
  }
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
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
          MHD_ALLOW_SUSPEND_RESUME,
      0, nullptr, nullptr, &Answer, this, MHD_OPTION_NOTIFY_CONNECTION, &Notify, this,
      MHD_OPTION_NOTIFY_COMPLETED, &RequestCompleted, nullptr, MHD_OPTION_CONNECTION_TIMEOUT,
      idle_timeout_seconds_, MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, kMaxConnectionsPerIp, MHD_OPTION_END);
  if (daemon_ == nullptr) {
    return absl::InternalError(absl::StrCat("http: cannot start the server on ", host, ":", port));
  }
  listen_fd_ = fd.release();
  stop_ = false;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  wake_thread_ = std::thread([this] { WakeLoop(); });
  return bound_port;
}

void HttpServer::Stop() {
  stop_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  if (wake_thread_.joinable()) wake_thread_.join();
  {
    // libmicrohttpd must not be stopped with suspended connections; resumed, their streams see
    // stopping() and end.
    std::lock_guard<std::mutex> lock(mu_);
    for (MHD_Connection* c : suspended_) MHD_resume_connection(c);
    suspended_.clear();
  }
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
