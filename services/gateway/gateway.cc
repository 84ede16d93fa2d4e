#include "services/gateway/gateway.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "pipeline/tensor/status_macros.h"
#include "services/gateway/parse_error_interceptor.h"
#include "services/gateway/tls_files.h"

namespace reel::gateway {
namespace {

constexpr const char* kServiceName = "reel.v1.GenerationService";

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
    for (const std::string& t : options_.extra_worker_tokens) {
      tokens_.Add(t, service::Role::kWorker, "in-process-worker");
    }
  }
  metrics_ = std::make_unique<GatewayMetrics>(registry_);
  if (!options_.result_ttl.empty() &&
      !absl::ParseDuration(options_.result_ttl, &options_.scheduler.result_ttl)) {
    return absl::InvalidArgumentError(absl::StrCat("--result_ttl: '", options_.result_ttl,
                                                   "' is not a duration such as 24h, 30m or 0"));
  }
  if (options_.scheduler.result_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--result_ttl: must not be negative");
  }
  std::string store = options_.store;
  if (const char* env = std::getenv("REEL_STORE"); store.empty() && env != nullptr) store = env;
  REEL_ASSIGN_OR_RETURN(StoreSpec spec, ParseStoreSpec(store, options_.data_dir));
  REEL_ASSIGN_OR_RETURN(store_, OpenJobStore(spec, options_.store_retry_budget));
  scheduler_ = std::make_unique<Scheduler>(*store_, options_.scheduler, metrics_.get());
  REEL_RETURN_IF_ERROR(scheduler_->Start());
  generation_ = std::make_unique<GenerationServiceImpl>(*scheduler_, tokens_, options_.generation);
  worker_service_ = std::make_unique<WorkerServiceImpl>(*scheduler_, tokens_);

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
    }
    REEL_ASSIGN_OR_RETURN(TlsFiles tls,
                          ReadTlsFiles(options_.tls_cert_file, options_.tls_key_file));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({tls.private_key_pem, tls.cert_chain_pem});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const bool split = !options_.worker_listen.empty();
  auto build = [&](const std::string& address, int* port, bool with_generation, bool with_worker) {
    grpc::ServerBuilder builder;
    grpc::ResourceQuota quota("reel-gateway");
    quota.SetMaxThreads(options_.max_threads);
    builder.SetResourceQuota(quota);
    builder.AddListeningPort(address, credentials, port);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewParseErrorInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    if (with_generation) builder.RegisterService(generation_.get());
    if (with_worker) builder.RegisterService(worker_service_.get());
    return builder.BuildAndStart();
  };
  server_ = build(options_.listen, &port_, /*with_generation=*/true, /*with_worker=*/!split);
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.listen, " (address in use, or not an address of this host)"));
  }
  if (split) {
    worker_server_ = build(options_.worker_listen, &worker_port_, false, true);
    if (worker_server_ == nullptr || worker_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("--worker_listen: cannot listen on ", options_.worker_listen));
    }
  }
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(kServiceName, true);
  }
  if (worker_server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* h = worker_server_->GetHealthCheckService(); h) {
      h->SetServingStatus(true);
    }
  }

  registry_.AddScrapeHook([this] {
    if (!store_->Ping().ok()) return;
    absl::StatusOr<std::map<JobState, int64_t>> counts = store_->CountByState();
    if (!counts.ok()) return;
    for (auto& [state, gauge] : metrics_->jobs) {
      const auto it = counts->find(state);
      gauge->Set(it == counts->end() ? 0.0 : static_cast<double>(it->second));
    }
    metrics_->queue_depth.Set(metrics_->jobs[v1::Job::QUEUED]->value());
  });
  auto add_probes = [this](service::HttpServer& server) {
    server.Handle("/metrics", [this] {
      return service::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                   registry_.Render()};
    });
    server.Handle("/healthz", [this] {
      if (scheduler_->stopping())
        return service::HttpResponse{503, "text/plain; charset=utf-8", "stopping\n"};
      if (!store_->Ping().ok()) {
        return service::HttpResponse{503, "text/plain; charset=utf-8", "job store unavailable\n"};
      }
      return service::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
    });
  };
  if (options_.metrics_port >= 0) {
    add_probes(http_);
    REEL_ASSIGN_OR_RETURN(metrics_port_, http_.Start(options_.metrics_host, options_.metrics_port));
  }
  if (!options_.http_listen.empty()) {
    const size_t colon = options_.http_listen.rfind(':');
    int port = -1;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(options_.http_listen.substr(colon + 1), &port) || port < 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--http_listen: '", options_.http_listen, "' is not HOST:PORT"));
    }
    std::string host = options_.http_listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    http_api_ = std::make_unique<HttpApi>(*generation_);
    add_probes(api_http_);
    // Streams (events, a followed result) outlive the request deadline; a player that buffered
    // ahead may pause reading for a while, hence the longer idle timeout.
    api_http_.set_idle_timeout_seconds(60);
    api_http_.HandleOthers(
        [this](const service::HttpRequest& request) { return http_api_->Serve(request); });
    REEL_ASSIGN_OR_RETURN(http_port_, api_http_.Start(host, port));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> Gateway::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return (worker_server_ != nullptr ? worker_server_ : server_)->InProcessChannel(args);
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
  if (worker_server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* h = worker_server_->GetHealthCheckService(); h) {
      h->SetServingStatus(false);
    }
  }
  if (scheduler_ != nullptr) scheduler_->Stop();
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  if (worker_server_ != nullptr) {
    worker_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  }
  http_.Stop();
  api_http_.Stop();
}

void Gateway::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace reel::gateway
