#pragma once
// A tiny key-value store over TCP for group rendezvous across hosts (Gloo 2022-05 has no TCPStore):
// rank 0 serves it at the group's HOST:PORT, every rank (rank 0 included) is a client. Keys are set
// once or overwritten; Claim sets a key only if it is absent (duplicate-rank detection); Get waits
// until the key exists. Every client call has a deadline. Only for rendezvous: a few small keys per
// rank, then the group talks over Gloo's own connections.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace reel {

// "host:port" → (host, port); port 0 is allowed for servers (an ephemeral port).
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address);

class TcpStoreServer {
 public:
  // Listens on host:port (port 0: any free port, see port()).
  static absl::StatusOr<std::unique_ptr<TcpStoreServer>> Start(const std::string& host, int port);
  ~TcpStoreServer();  // stops the serving thread and closes every connection
  int port() const { return port_; }

 private:
  struct Impl;
  explicit TcpStoreServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

class TcpStoreClient {
 public:
  // Connects, retrying until `deadline` while nobody listens yet (rank 0 may start last).
  static absl::StatusOr<std::unique_ptr<TcpStoreClient>> Connect(const std::string& host, int port,
                                                                 absl::Time deadline);
  ~TcpStoreClient();

  absl::Status Set(const std::string& key, const std::string& value, absl::Time deadline);
  // True if this call set the key, false if it existed already (its value is kept).
  absl::StatusOr<bool> Claim(const std::string& key, const std::string& value, absl::Time deadline);
  absl::StatusOr<std::optional<std::string>> TryGet(const std::string& key, absl::Time deadline);
  // Waits until the key exists (DEADLINE_EXCEEDED after `deadline`).
  absl::StatusOr<std::string> Get(const std::string& key, absl::Time deadline);

 private:
  explicit TcpStoreClient(int fd) : fd_(fd) {}
  absl::StatusOr<std::string> Call(char op, const std::string& key, const std::string& value,
                                   absl::Time deadline);
  int fd_;
};

}  // namespace reel
