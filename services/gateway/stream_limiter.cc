#include "services/gateway/stream_limiter.h"

#include "absl/strings/str_cat.h"

namespace reel::gateway {

StreamLimiter::Slot::~Slot() {
  if (limiter_ != nullptr) limiter_->Release(client_);
}

absl::StatusOr<StreamLimiter::Slot> StreamLimiter::Acquire(const std::string& client) {
  if (client.empty() || max_per_client_ <= 0) return Slot(nullptr, client);
  std::lock_guard<std::mutex> lock(mu_);
  int& n = open_[client];
  if (n >= max_per_client_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("'", client, "' has ", n,
                     " open Watch/FetchResult streams, the limit per "
                     "client (max_streams_per_client = ",
                     max_per_client_, "); close some and retry"));
  }
  ++n;
  return Slot(this, client);
}

int StreamLimiter::open(const std::string& client) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = open_.find(client);
  return it == open_.end() ? 0 : it->second;
}

void StreamLimiter::Release(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = open_.find(client);
  if (it != open_.end() && --it->second <= 0) open_.erase(it);
}

}  // namespace reel::gateway
