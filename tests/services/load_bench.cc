// reel_services_load_bench: throughput and queue latency of the service plane on loopback.
//
// Starts a gateway (SQLite in a temp dir) and N workers in this process, connected over 127.0.0.1
// TCP like split deployments, then submits --jobs tiny renders from --clients threads and waits for
// all of them. Prints jobs/min and the p50/p99 of queue wait (submit → lease, from the jobs' own
// timestamps) and of end-to-end latency (submit → SUCCEEDED seen by the client). Bounded by
// --timeout_s.
//
//   reel_services_load_bench --renderer fake --jobs 200 --workers 2     (service overhead only)
//   reel_services_load_bench --renderer random --jobs 20                 (real pipeline, random
//   weights) reel_services_load_bench --renderer models/reel-tiny --jobs 10       (the shipped
//   model)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "pipeline/generate/random_model.h"
#include "services/common/flags.h"
#include "tests/services/fake_renderer.h"
#include "tests/services/pg_server.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i =
      std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

double Seconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(google::protobuf::util::TimeUtil::TimestampToMilliseconds(t)) / 1000.0;
}

int Run(int argc, char** argv) {
  std::string renderer_kind = "fake";
  int jobs = 100, clients = 4, workers = 1, frames = 8, steps = 2, width = 32, height = 32,
      threads = 1;
  int timeout_s = 300, step_delay_ms = 0;
  service::FlagSet flags("reel_services_load_bench [options]");
  flags.String("renderer", &renderer_kind,
               "fake | random (random-weight model) | a model directory");
  flags.Int("jobs", &jobs, "jobs to submit");
  flags.Int("clients", &clients, "client threads submitting and waiting");
  flags.Int("workers", &workers, "workers (each with its own renderer)");
  flags.Int("frames", &frames, "frames per job");
  flags.Int("steps", &steps, "steps per block");
  flags.Int("width", &width, "pixels");
  flags.Int("height", &height, "pixels");
  flags.Int("threads", &threads, "renderer threads per worker (real renderers)");
  flags.Int("step_delay_ms", &step_delay_ms, "fake renderer: sleep per step");
  flags.Int("timeout_s", &timeout_s, "give up after this long");
  std::string store = "sqlite";
  flags.String("store", &store,
               "sqlite, or postgresql (a server started here, fsync on, like SQLite's FULL)");
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  auto rest = flags.Parse(args);
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  if (!rest.ok()) {
    std::fprintf(stderr, "%s\n", rest.status().ToString().c_str());
    return 2;
  }
  TempDir dir;
  std::vector<std::unique_ptr<Renderer>> renderers;
  std::string model_dir = renderer_kind;
  if (renderer_kind == "random") {
    model_dir = dir.File("model");
    if (absl::Status s = WriteRandomModel(model_dir); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  for (int i = 0; i < workers; ++i) {
    if (renderer_kind == "fake") {
      FakeRendererOptions o;
      o.step_delay = absl::Milliseconds(step_delay_ms);
      renderers.push_back(std::make_unique<FakeRenderer>(o));
    } else {
      RendererOptions o;
      o.threads = threads;
      auto loaded = LoadRenderer(model_dir, o);
      if (!loaded.ok()) {
        std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
        return 1;
      }
      renderers.push_back(*std::move(loaded));
    }
  }
  StackOptions stack;
  stack.max_queued = jobs + 1;
  std::unique_ptr<PgServer> pg;
  if (store == "postgresql") {
    std::string why_not;
    pg = PgServer::Start(&why_not, /*durable=*/true);
    if (pg == nullptr) {
      std::fprintf(stderr, "no PostgreSQL: %s\n", why_not.c_str());
      return 1;
    }
    stack.store = pg->Dsn();
  }
  auto gateway = StartGateway(dir.File("data"), stack);
  if (!gateway.ok()) {
    std::fprintf(stderr, "%s\n", gateway.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<worker::Worker>> pool;
  for (int i = 0; i < workers; ++i) {
    pool.push_back(StartWorker((*gateway)->port(), *renderers[i], (*gateway)->result_dir(), "",
                               absl::StrCat("bench-", i)));
    pool.back()->WaitUntilRegistered(absl::Seconds(10));
  }

  std::mutex mu;
  std::vector<double> queue_wait, end_to_end;
  std::atomic<int> next{0}, failed{0};
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads_pool;
  for (int c = 0; c < clients; ++c) {
    threads_pool.emplace_back([&] {
      auto stub = Client((*gateway)->port());
      while (next.fetch_add(1) < jobs && absl::Now() < deadline) {
        v1::GenerateRequest r;
        r.set_prompt("a red ball bouncing");
        r.set_frames(frames);
        r.set_steps(steps);
        r.set_width(width);
        r.set_height(height);
        v1::Job job;
        const absl::Time submitted = absl::Now();
        if (!Submit(*stub, r, &job).ok()) {
          failed.fetch_add(1);
          continue;
        }
        // Follow the job with Watch, as a client would (no polling granularity in the latency).
        v1::Job done;
        {
          grpc::ClientContext context;
          context.set_deadline(absl::ToChronoTime(deadline));
          v1::WatchJobRequest watch;
          watch.set_id(job.id());
          auto reader = stub->Watch(&context, watch);
          v1::JobEvent event;
          while (reader->Read(&event)) {
            if (event.has_final()) done = event.final();
          }
          (void)reader->Finish();
        }
        const double e2e = absl::ToDoubleSeconds(absl::Now() - submitted);
        if (done.state() != v1::Job::SUCCEEDED) {
          failed.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        queue_wait.push_back(Seconds(done.start_time()) - Seconds(done.create_time()));
        end_to_end.push_back(e2e);
      }
    });
  }
  for (auto& t : threads_pool) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& w : pool) w->Stop();
  (*gateway)->Shutdown();
  std::printf("renderer=%s workers=%d clients=%d jobs=%d (%dx%d, %d frames, %d steps)\n",
              renderer_kind.c_str(), workers, clients, jobs, width, height, frames, steps);
  std::printf("succeeded=%zu failed=%d elapsed=%.2fs throughput=%.1f jobs/min\n", end_to_end.size(),
              failed.load(), elapsed, 60.0 * static_cast<double>(end_to_end.size()) / elapsed);
  std::printf("queue wait: p50=%.1f ms p99=%.1f ms | end-to-end: p50=%.1f ms p99=%.1f ms\n",
              1000 * Percentile(queue_wait, 0.5), 1000 * Percentile(queue_wait, 0.99),
              1000 * Percentile(end_to_end, 0.5), 1000 * Percentile(end_to_end, 0.99));
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace reel::testing

int main(int argc, char** argv) { return reel::testing::Run(argc, argv); }
