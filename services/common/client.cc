#include "services/common/client.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/common/auth.h"
#include "services/common/status.h"

namespace reel::service {

absl::StatusOr<std::shared_ptr<grpc::Channel>> Dial(const ConnectOptions& options) {
  if (options.server.empty()) return absl::InvalidArgumentError("--server is empty (host:port)");
  grpc::ChannelArguments args;
  // Results and previews can be larger than gRPC's 4 MiB default receive limit per message.
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.tls_ca_file.empty() || options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      std::ifstream in(options.tls_ca_file);
      if (!in)
        return absl::NotFoundError(absl::StrCat("cannot read CA file ", options.tls_ca_file));
      std::stringstream pem;
      pem << in.rdbuf();
      ssl.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(options.server, credentials, args);
}

absl::StatusOr<std::string> ResolveToken(const std::string& token, const std::string& token_file) {
  if (!token.empty()) return token;
  if (!token_file.empty()) return ReadFirstToken(token_file);
  if (const char* env = std::getenv("REEL_TOKEN"); env != nullptr) return std::string(env);
  return std::string();
}

void Prepare(grpc::ClientContext& context, const std::string& token, absl::Duration timeout) {
  if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  if (timeout != absl::InfiniteDuration()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

absl::StatusOr<int64_t> FetchResultToFile(v1::GenerationService::Stub& stub,
                                          const std::string& token, const std::string& id,
                                          const std::string& path, const FetchOptions& options) {
  const std::string part = path + ".part";
  std::ofstream out(part, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", part));
  int64_t offset = 0, total = -1;
  absl::Status last = absl::OkStatus();
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    grpc::ClientContext context;
    Prepare(context, token, options.attempt_timeout);
    v1::FetchResultRequest request;
    request.set_id(id);
    request.set_offset(offset);
    request.set_chunk_bytes(options.chunk_bytes);
    std::unique_ptr<grpc::ClientReader<v1::ResultChunk>> reader =
        stub.FetchResult(&context, request);
    v1::ResultChunk chunk;
    bool done = false;
    while (reader->Read(&chunk)) {
      if (chunk.offset() != offset) {
        return absl::DataLossError(
            absl::StrCat("result chunk at ", chunk.offset(), ", expected ", offset));
      }
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      offset += static_cast<int64_t>(chunk.data().size());
      total = chunk.total_bytes();
      if (options.on_chunk) options.on_chunk(offset, total);
      if (chunk.last()) done = true;
    }
    last = FromGrpc(reader->Finish());
    if (done && last.ok()) break;
    // Only a broken transport is worth resuming; anything the server decided is final.
    if (!last.ok() && last.code() != absl::StatusCode::kUnavailable &&
        last.code() != absl::StatusCode::kDeadlineExceeded) {
      out.close();
      std::filesystem::remove(part);
      return last;
    }
  }
  out.close();
  if (total < 0 || offset != total) {
    std::filesystem::remove(part);
    return last.ok()
               ? absl::DataLossError(absl::StrCat("result of ", id, " ended at byte ", offset))
               : last;
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("rename ", part, " -> ", path, ": ", ec.message()));
  return offset;
}

}  // namespace reel::service
