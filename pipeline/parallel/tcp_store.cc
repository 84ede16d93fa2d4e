#include "pipeline/parallel/tcp_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace reel {
namespace {

// Wire format, both directions: op (1 byte), then length-prefixed (u32, host order: one machine
// type per group) key and value. Replies use op 'R' and carry the answer in the value.
constexpr char kSet = 'S', kClaim = 'C', kTryGet = 'T', kGet = 'G', kReply = 'R';

std::string Frame(char op, const std::string& key, const std::string& value) {
  std::string out(1, op);
  const uint32_t k = static_cast<uint32_t>(key.size()), v = static_cast<uint32_t>(value.size());
  out.append(reinterpret_cast<const char*>(&k), 4).append(key);
  out.append(reinterpret_cast<const char*>(&v), 4).append(value);
  return out;
}

// One complete frame from the front of `buffer`, if there is one.
bool TakeFrame(std::string& buffer, char& op, std::string& key, std::string& value) {
  if (buffer.size() < 9) return false;
  uint32_t k = 0, v = 0;
  std::memcpy(&k, buffer.data() + 1, 4);
  if (buffer.size() < 9 + size_t{k}) return false;
  std::memcpy(&v, buffer.data() + 5 + k, 4);
  if (buffer.size() < 9 + size_t{k} + v) return false;
  op = buffer[0];
  key = buffer.substr(5, k);
  value = buffer.substr(9 + k, v);
  buffer.erase(0, 9 + size_t{k} + v);
  return true;
}

int MillisLeft(absl::Time deadline) {
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return ms < 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

absl::Status SendAll(int fd, const std::string& bytes, absl::Time deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, MillisLeft(deadline)) <= 0) {
      return absl::DeadlineExceededError("rendezvous store: send timed out");
    }
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError("rendezvous store: connection lost");
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not HOST:PORT"));
  }
  return std::pair{address.substr(0, colon), port};
}

// The serving thread: one poll loop over the listening socket, a wake-up pipe and the clients.
struct TcpStoreServer::Impl {
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread thread;
  std::map<std::string, std::string> values;
  struct Client {
    std::string in;
    std::vector<std::string> waiting;  // keys of Get calls not answered yet, in order
  };
  std::map<int, Client> clients;

  void Reply(int fd, const std::string& value) {
    // Best effort: a client that went away is dropped by the poll loop.
    (void)SendAll(fd, Frame(kReply, "", value), absl::Now() + absl::Seconds(5));
  }

  void Handle(int fd, Client& c, char op, const std::string& key, const std::string& value) {
    switch (op) {
      case kSet:
        values[key] = value;
        Reply(fd, "1");
        for (auto& [other_fd, other] : clients) {
          // Answer waiting Gets in order (a client waits on one Get at a time).
          while (!other.waiting.empty() && values.count(other.waiting.front())) {
            Reply(other_fd, values[other.waiting.front()]);
            other.waiting.erase(other.waiting.begin());
          }
        }
        break;
      case kClaim:
        Reply(fd, values.emplace(key, value).second ? "1" : "0");
        break;
      case kTryGet: {
        auto it = values.find(key);
        Reply(fd, it == values.end() ? std::string("0") : "1" + it->second);
        break;
      }
      case kGet:
        if (c.waiting.empty() && values.count(key)) {
          Reply(fd, values[key]);
        } else {
          c.waiting.push_back(key);
        }
        break;
      default:
        ::close(fd);
        clients.erase(fd);
    }
  }

  void Serve() {
    while (true) {
      std::vector<pollfd> fds = {{wake[0], POLLIN, 0}, {listen_fd, POLLIN, 0}};
      for (const auto& [fd, c] : clients) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
      if (fds[0].revents != 0) return;  // shutdown
      if (fds[1].revents & POLLIN) {
        const int fd = ::accept(listen_fd, nullptr, nullptr);
        if (fd >= 0) clients[fd];
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const int fd = fds[i].fd;
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
          ::close(fd);
          clients.erase(fd);
          continue;
        }
        Client& c = clients[fd];
        c.in.append(buf, static_cast<size_t>(n));
        char op = 0;
        std::string key, value;
        while (clients.count(fd) && TakeFrame(c.in, op, key, value)) Handle(fd, c, op, key, value);
      }
    }
  }

  ~Impl() {
    if (thread.joinable()) {
      const char x = 0;
      (void)!::write(wake[1], &x, 1);
      thread.join();
    }
    for (auto& [fd, c] : clients) ::close(fd);
    for (int fd : {listen_fd, wake[0], wake[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

absl::StatusOr<std::unique_ptr<TcpStoreServer>> TcpStoreServer::Start(const std::string& host,
                                                                      int port) {
  auto impl = std::make_unique<Impl>();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) {
    return absl::InvalidArgumentError(absl::StrCat("rendezvous: cannot resolve '", host, "'"));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  impl->listen_fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(impl->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (impl->listen_fd < 0 || ::bind(impl->listen_fd, found->ai_addr, found->ai_addrlen) != 0 ||
      ::listen(impl->listen_fd, 128) != 0) {
    return absl::UnavailableError(
        absl::StrCat("rendezvous: cannot listen on ", host, ":", port, ": ", std::strerror(errno)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(impl->wake, O_CLOEXEC) != 0) return absl::InternalError("rendezvous: pipe failed");
  impl->thread = std::thread([p = impl.get()] { p->Serve(); });
  return std::unique_ptr<TcpStoreServer>(new TcpStoreServer(std::move(impl), bound_port));
}

TcpStoreServer::TcpStoreServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}
TcpStoreServer::~TcpStoreServer() = default;

absl::StatusOr<std::unique_ptr<TcpStoreClient>> TcpStoreClient::Connect(const std::string& host,
                                                                        int port,
                                                                        absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string last_error = "nobody listening";
  while (true) {
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) == 0 && found) {
      std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
      const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return std::unique_ptr<TcpStoreClient>(new TcpStoreClient(fd));
      }
      last_error = std::strerror(errno);
      if (fd >= 0) ::close(fd);
    } else {
      last_error = "cannot resolve the host";
    }
    if (absl::Now() > deadline) {
      return absl::UnavailableError(
          absl::StrCat("rendezvous ", host, ":", port, " is unreachable (", last_error, ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TcpStoreClient::~TcpStoreClient() { ::close(fd_); }

absl::StatusOr<std::string> TcpStoreClient::Call(char op, const std::string& key,
                                                 const std::string& value, absl::Time deadline) {
  if (absl::Status s = SendAll(fd_, Frame(op, key, value), deadline); !s.ok()) return s;
  std::string in;
  char reply_op = 0;
  std::string reply_key, reply;
  while (!TakeFrame(in, reply_op, reply_key, reply)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, MillisLeft(deadline)) <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("rendezvous store: no answer for '", key, "' in time"));
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      return absl::UnavailableError(
          "rendezvous store: connection to rank 0 lost (rank 0 gave up or died)");
    }
    in.append(buf, static_cast<size_t>(n));
  }
  if (reply_op != kReply) return absl::InternalError("rendezvous store: bad reply");
  return reply;
}

absl::Status TcpStoreClient::Set(const std::string& key, const std::string& value,
                                 absl::Time deadline) {
  return Call(kSet, key, value, deadline).status();
}

absl::StatusOr<bool> TcpStoreClient::Claim(const std::string& key, const std::string& value,
                                           absl::Time deadline) {
  absl::StatusOr<std::string> r = Call(kClaim, key, value, deadline);
  if (!r.ok()) return r.status();
  return *r == "1";
}

absl::StatusOr<std::optional<std::string>> TcpStoreClient::TryGet(const std::string& key,
                                                                  absl::Time deadline) {
  absl::StatusOr<std::string> r = Call(kTryGet, key, "", deadline);
  if (!r.ok()) return r.status();
  if (r->empty() || (*r)[0] != '1') return std::optional<std::string>();
  return std::optional<std::string>(r->substr(1));
}

absl::StatusOr<std::string> TcpStoreClient::Get(const std::string& key, absl::Time deadline) {
  return Call(kGet, key, "", deadline);
}

}  // namespace reel
