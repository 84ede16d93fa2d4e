#pragma once
// Per-client caps on open server streams (Watch, FetchResult). The gRPC server has one global
// thread cap (GatewayOptions::max_threads); without a share per client, one client holding that
// many idle Watch streams starves everybody else. A Slot is held for the life of a stream.
#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace reel::gateway {

class StreamLimiter {
 public:
  // max_per_client 0: no per-client cap.
  explicit StreamLimiter(int max_per_client) : max_per_client_(max_per_client) {}

  class Slot {
   public:
    Slot(Slot&& other) noexcept
        : limiter_(std::exchange(other.limiter_, nullptr)), client_(std::move(other.client_)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class StreamLimiter;
    Slot(StreamLimiter* limiter, std::string client)
        : limiter_(limiter), client_(std::move(client)) {}
    StreamLimiter* limiter_;
    std::string client_;
  };

  // A slot for one more stream of `client`, or RESOURCE_EXHAUSTED naming the limit. Client ""
  // (authentication off: there are no separate clients) is not capped.
  absl::StatusOr<Slot> Acquire(const std::string& client);
  int open(const std::string& client) const;

 private:
  void Release(const std::string& client);

  const int max_per_client_;
  mutable std::mutex mu_;
  std::map<std::string, int> open_;
};

}  // namespace reel::gateway
