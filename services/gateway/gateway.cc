#include "services/gateway/gateway.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "pipeline/tensor/status_macros.h"

namespace reel::gateway {
namespace {

constexpr const char* kServiceName = "reel.v1.GenerationService";

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)) {}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  std::unique_ptr<Gateway> gateway(new Gateway(std::move(options)));
  REEL_RETURN_IF_ERROR(gateway->Init());
  return gateway;
}

absl::Status Gateway::Init() {
  if (options_.data_dir.empty())
    return absl::InvalidArgumentError("--data: a directory is required");
  const std::filesystem::path data(options_.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data / "results", ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", (data / "results").string(), ": ", ec.message()));
  options_.scheduler.result_dir = (data / "results").string();

  if (!options_.token_file.empty()) {
    REEL_ASSIGN_OR_RETURN(tokens_, service::TokenSet::FromFile(options_.token_file));
  }
  if (tokens_.enabled()) {
    for (const std::string& t : options_.extra_tokens) tokens_.Add(t);
  }
  metrics_ = std::make_unique<GatewayMetrics>(registry_);
  REEL_ASSIGN_OR_RETURN(store_, SqliteJobStore::Open((data / "jobs.db").string()));
  scheduler_ = std::make_unique<Scheduler>(*store_, options_.scheduler, metrics_.get());
  REEL_RETURN_IF_ERROR(scheduler_->Start());
  generation_ = std::make_unique<GenerationServiceImpl>(*scheduler_, tokens_);
  worker_service_ = std::make_unique<WorkerServiceImpl>(*scheduler_, tokens_);

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
    }
    grpc::SslServerCredentialsOptions ssl;
    REEL_ASSIGN_OR_RETURN(std::string cert, ReadFile(options_.tls_cert_file));
    REEL_ASSIGN_OR_RETURN(std::string key, ReadFile(options_.tls_key_file));
    ssl.pem_key_cert_pairs.push_back({key, cert});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  grpc::ResourceQuota quota("reel-gateway");
  quota.SetMaxThreads(options_.max_threads);
  builder.SetResourceQuota(quota);
  builder.AddListeningPort(options_.listen, credentials, &port_);
  builder.RegisterService(generation_.get());
  builder.RegisterService(worker_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(kServiceName, true);
  }

  registry_.AddScrapeHook([this] {
    absl::StatusOr<std::map<JobState, int64_t>> counts = store_->CountByState();
    if (!counts.ok()) return;
    for (auto& [state, gauge] : metrics_->jobs) {
      const auto it = counts->find(state);
      gauge->Set(it == counts->end() ? 0.0 : static_cast<double>(it->second));
    }
    metrics_->queue_depth.Set(metrics_->jobs[v1::Job::QUEUED]->value());
  });
  if (options_.metrics_port >= 0) {
    http_.Handle("/metrics", [this] {
      return service::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                   registry_.Render()};
    });
    http_.Handle("/healthz", [this] {
      if (scheduler_->stopping())
        return service::HttpResponse{503, "text/plain; charset=utf-8", "stopping\n"};
      if (!store_->CountByState().ok()) {
        return service::HttpResponse{503, "text/plain; charset=utf-8", "job store unavailable\n"};
      }
      return service::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
    });
    REEL_ASSIGN_OR_RETURN(metrics_port_, http_.Start(options_.metrics_host, options_.metrics_port));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> Gateway::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return server_->InProcessChannel(args);
}

void Gateway::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
        health != nullptr) {
      health->SetServingStatus(false);
    }
  }
  if (scheduler_ != nullptr) scheduler_->Stop();
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  http_.Stop();
}

void Gateway::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace reel::gateway
