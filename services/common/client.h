#pragma once
// What every client of a reel server needs (the `reel submit/watch/...` commands, the worker,
// tests): a channel with optional TLS, bearer-token metadata, and a resumable download of a job's
// result.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "reel/v1/generation.grpc.pb.h"

namespace reel::service {

struct ConnectOptions {
  std::string server = "127.0.0.1:50051";  // host:port
  std::string token;                       // bearer token; "" sends none
  // TLS: a PEM file of the CA that signed the server's certificate (or the self-signed certificate
  // itself). Empty and tls == false: plaintext.
  std::string tls_ca_file;
  bool tls = false;             // TLS with the system's root certificates
  std::string tls_server_name;  // overrides the name checked in the certificate
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> Dial(const ConnectOptions& options);

// The token from, in order: `token` itself, the first token of `token_file`, $REEL_TOKEN; "" if
// none.
absl::StatusOr<std::string> ResolveToken(const std::string& token, const std::string& token_file);

// Sets the bearer token (if any) and a deadline (if timeout is finite) on a context.
void Prepare(grpc::ClientContext& context, const std::string& token,
             absl::Duration timeout = absl::InfiniteDuration());

struct FetchOptions {
  int chunk_bytes = 0;   // 0: the server's default
  int max_attempts = 5;  // reconnects after a broken stream, each resuming at the last offset
  absl::Duration attempt_timeout = absl::Minutes(10);
  // Called after each chunk with (bytes so far, total bytes).
  std::function<void(int64_t, int64_t)> on_chunk;
};

// Downloads job `id`'s result into `path` (written to path + ".part", renamed when complete). A
// broken stream is resumed from the bytes already written. Returns the size.
absl::StatusOr<int64_t> FetchResultToFile(v1::GenerationService::Stub& stub,
                                          const std::string& token, const std::string& id,
                                          const std::string& path,
                                          const FetchOptions& options = {});

}  // namespace reel::service
