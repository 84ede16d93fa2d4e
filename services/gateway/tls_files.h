#pragma once
// Reads and checks the gateway's TLS certificate chain and private key before gRPC gets them:
// gRPC refuses a bad pair only by failing to listen ("cannot listen on ..."), which hides the real
// cause. Here a file that is not PEM, a key that is not a key, or a key that does not match the
// certificate is named with the file.
#include <string>

#include "absl/status/statusor.h"

namespace reel::gateway {

struct TlsFiles {
  std::string cert_chain_pem;
  std::string private_key_pem;
};

// INVALID_ARGUMENT naming the flag and file for each problem; NOT_FOUND when a file is unreadable.
absl::StatusOr<TlsFiles> ReadTlsFiles(const std::string& cert_path, const std::string& key_path);

}  // namespace reel::gateway
