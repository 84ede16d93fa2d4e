// `reel submit | watch | get | cancel | delete | fetch | list`: clients of a reel server (`reel
// serve` or a gateway). Every command takes --server HOST:PORT, --token / --token_file
// ($REEL_TOKEN) and
// --tls_ca. Exit codes: 0 done (for watch: SUCCEEDED), 1 the server said no or the job did not
// succeed, 2 usage.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "services/common/client.h"
#include "services/common/flags.h"
#include "services/common/status.h"
#include "tools/reel/cli_progress.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {

using service::FlagSet;

constexpr absl::Duration kCallTimeout = absl::Seconds(30);

struct Connection {
  service::ConnectOptions options;
  std::string token_file;
  std::string token;
  std::unique_ptr<v1::GenerationService::Stub> stub;

  void AddFlags(FlagSet& flags) {
    if (const char* env = std::getenv("REEL_SERVER"); env != nullptr && *env != '\0')
      options.server = env;
    flags.String("server", &options.server, "the server's host:port (or $REEL_SERVER)");
    flags.String("token", &options.token, "bearer token (or $REEL_TOKEN)");
    flags.String("token_file", &token_file, "file whose first token is used");
    flags.String("tls_ca", &options.tls_ca_file,
                 "PEM CA of the server's certificate (enables TLS)");
    flags.Bool("tls", &options.tls, "TLS with the system's root certificates");
  }
  absl::Status Open() {
    absl::StatusOr<std::string> t = service::ResolveToken(options.token, token_file);
    if (!t.ok()) return t.status();
    token = *t;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = service::Dial(options);
    if (!channel.ok()) return channel.status();
    stub = v1::GenerationService::NewStub(*channel);
    return absl::OkStatus();
  }
  void Prepare(grpc::ClientContext& context, absl::Duration timeout = kCallTimeout) const {
    service::Prepare(context, token, timeout);
  }
};

// Parses flags; on --help prints and returns 0 through *exit_code; on error prints and returns 2.
bool ParseOrExit(FlagSet& flags, const std::vector<std::string_view>& args, const char* command,
                 std::vector<std::string>* positional, int* exit_code) {
  absl::StatusOr<std::vector<std::string>> rest = flags.Parse(args);
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    *exit_code = 0;
    return false;
  }
  if (!rest.ok()) {
    std::fprintf(stderr, "reel %s: %s\n", command, std::string(rest.status().message()).c_str());
    *exit_code = 2;
    return false;
  }
  *positional = *std::move(rest);
  return true;
}

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "reel %s: %s: %s\n", command,
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  return 1;
}

int Usage(const char* command, const char* what) {
  std::fprintf(stderr, "reel %s: %s (see --help)\n", command, what);
  return 2;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string Describe(const v1::Job& job) {
  std::string line = absl::StrCat(job.id(), " ", v1::Job::State_Name(job.state()));
  if (job.state() == v1::Job::SUCCEEDED) {
    absl::StrAppend(&line, " ", job.result().mime_type(), " ", job.result().size_bytes(), " bytes");
  }
  if (job.has_error() && job.state() != v1::Job::SUCCEEDED) {
    absl::StrAppend(&line, ": ", job.error().message());
  }
  return line;
}

ProgressUpdate ToUpdate(v1::Job::State state, const v1::Progress& p) {
  ProgressUpdate u;
  u.step = p.step();
  u.total_steps = p.total_steps();
  u.block = p.block();
  u.total_blocks = p.total_blocks();
  u.elapsed_s = p.elapsed_seconds();
  u.eta_s = p.eta_seconds() > 0 ? p.eta_seconds() : -1;
  u.note = v1::Job::State_Name(state);
  return u;
}

// Streams a job's events until it ends. Returns the final job (or the error). Previews, when
// `previews_dir` is set, are written as <id>-block<N>.png.
absl::StatusOr<v1::Job> WatchJob(const Connection& c, const std::string& id,
                                 const std::string& previews_dir, bool quiet) {
  grpc::ClientContext context;
  c.Prepare(context, absl::InfiniteDuration());
  v1::WatchJobRequest request;
  request.set_id(id);
  request.set_previews(!previews_dir.empty());
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = c.stub->Watch(&context, request);
  ProgressBar bar(stderr, quiet ? ProgressBar::Style::kQuiet : ProgressBar::Style::kAuto, id);
  v1::JobEvent event;
  std::optional<v1::Job> final_job;
  while (reader->Read(&event)) {
    if (event.has_snapshot()) {
      bar.Update(ToUpdate(event.snapshot().state(), event.snapshot().progress()));
    } else if (event.has_progress()) {
      bar.Update(ToUpdate(event.progress().state(), event.progress().progress()));
    } else if (event.has_preview() && !previews_dir.empty()) {
      const std::string path =
          absl::StrCat(previews_dir, "/", id, "-block", event.preview().block(), ".png");
      std::ofstream(path, std::ios::binary) << event.preview().png();
    } else if (event.has_final()) {
      final_job = event.final();
      bar.Update(ToUpdate(final_job->state(), final_job->progress()));
    }
  }
  bar.Finish();
  const absl::Status status = service::FromGrpc(reader->Finish());
  if (!status.ok()) return status;
  if (!final_job) return absl::UnavailableError("the stream ended before the job did");
  return *final_job;
}

// Time to first frame (Submit → the first playable bytes, issue 17) against time to finish, once
// the job is done: how much sooner a follower could start playing.
void PrintTimeToFirstFrame(const v1::Job& job) {
  const double first = job.progress().time_to_first_frame_seconds();
  if (first <= 0 || !job.has_end_time()) return;
  const auto seconds = [](const google::protobuf::Timestamp& t) {
    return static_cast<double>(t.seconds()) + t.nanos() * 1e-9;
  };
  std::fprintf(stderr, "time to first frame %.2f s, to finish %.2f s\n", first,
               seconds(job.end_time()) - seconds(job.create_time()));
}

std::string DefaultOutputName(const v1::Job& job) {
  const std::string& mime = job.result().mime_type();
  const std::string ext = mime == "video/mp4"    ? "mp4"
                          : mime == "video/webm" ? "webm"
                          : mime == "image/gif"  ? "gif"
                          : mime == "image/webp" ? "webp"
                          : mime == "image/png"  ? "png"
                          : mime == "image/jpeg" ? "jpg"
                                                 : "bin";
  return absl::StrCat(job.id(), ".", ext);
}

absl::StatusOr<v1::Job> GetJob(const Connection& c, const std::string& id) {
  grpc::ClientContext context;
  c.Prepare(context);
  v1::GetJobRequest request;
  request.set_id(id);
  v1::Job job;
  if (grpc::Status s = c.stub->Get(&context, request, &job); !s.ok()) return service::FromGrpc(s);
  return job;
}

int FetchTo(const Connection& c, const v1::Job& job, std::string output, const char* command) {
  if (output.empty()) output = DefaultOutputName(job);
  absl::StatusOr<int64_t> size = service::FetchResultToFile(*c.stub, c.token, job.id(), output);
  if (!size.ok()) return Fail(command, size.status());
  std::printf("%s (%lld bytes)\n", output.c_str(), static_cast<long long>(*size));
  return 0;
}

int RunSubmit(const std::vector<std::string_view>& args) {
  Connection c;
  v1::GenerateRequest r;
  std::string negative, kind = "video", sampler, model, format, key, seed, output, previews, cache;
  int width = 0, height = 0, frames = 0, steps = 0, priority = 0, cache_interval = 0;
  int attention_window = -1;
  double fps = 0, cfg = -1, cache_threshold = -1, sla_topk = -1;
  bool watch = false;
  FlagSet flags("reel submit [options] PROMPT...");
  c.AddFlags(flags);
  flags.String("kind", &kind, "video or image");
  flags.String("negative", &negative, "negative prompt");
  flags.Int("width", &width, "pixels (0: the model's default)");
  flags.Int("height", &height, "pixels (0: the model's default)");
  flags.Int("frames", &frames, "frames of a video (0: the model's default)");
  flags.Double("fps", &fps, "frames per second (0: the model's default)");
  flags.Int("steps", &steps, "denoising steps (0: the model's default)");
  flags.String("sampler", &sampler, "euler or dpm++2m (empty: the model's default)");
  flags.Double("cfg", &cfg, "guidance scale 0..30 (negative: the model's default)");
  flags.String(
      "cache", &cache,
      "feature caching: none, fbcache, taylorseer, cg-taylor (empty: the model's default)");
  flags.Double("cache_threshold", &cache_threshold,
               "fbcache / cg-taylor threshold 0..1 (negative: the default)");
  flags.Int("cache_interval", &cache_interval, "taylorseer interval 1..100 (0: the default)");
  flags.Int("attention_window", &attention_window,
            "softmax / sparse_linear models: blocks the exact attention sees, 0..64 (negative: the "
            "model's)");
  flags.Double("sla_topk", &sla_topk,
               "sparse_linear models: share of key tiles attended exactly, (0, 1] (negative: the "
               "model's)");
  flags.String("seed", &seed, "noise seed (empty: the server picks one)");
  flags.String("model", &model, "model name (empty: any the workers serve)");
  flags.String("format", &format, "mp4, webm, gif, webp (video) / png, jpeg, webp (image)");
  flags.Int("priority", &priority, "-10..10, higher first");
  flags.String("idempotency_key", &key, "retrying with the same key returns the same job");
  flags.Bool("watch", &watch, "follow the job until it ends");
  flags.String("output", &output, "wait for the job and download the result to this file");
  flags.String("previews", &previews,
               "while watching, save block previews (PNG) in this directory");
  std::vector<std::string> prompt;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "submit", &prompt, &exit_code)) return exit_code;
  if (prompt.empty()) return Usage("submit", "a PROMPT is required");
  if (kind != "video" && kind != "image") return Usage("submit", "--kind must be video or image");
  r.set_prompt(absl::StrJoin(prompt, " "));
  r.set_negative_prompt(negative);
  r.set_kind(kind == "image" ? v1::GenerateRequest::IMAGE : v1::GenerateRequest::VIDEO);
  r.set_width(width);
  r.set_height(height);
  r.set_frames(frames);
  r.set_fps(fps);
  r.set_steps(steps);
  r.set_sampler(sampler);
  if (cfg >= 0) r.set_cfg_scale(cfg);
  r.set_cache_policy(cache);
  if (cache_threshold >= 0) r.set_cache_threshold(cache_threshold);
  if (cache_interval != 0) r.set_cache_interval(cache_interval);
  if (attention_window >= 0) r.set_attention_window(attention_window);
  if (sla_topk >= 0) r.set_sla_topk(sla_topk);
  if (!seed.empty()) {
    uint64_t s = 0;
    if (!absl::SimpleAtoi(seed, &s))
      return Usage("submit", "--seed must be a non-negative integer");
    r.set_seed(s);
  }
  r.set_model(model);
  r.set_output_format(format);
  r.set_priority(priority);
  r.set_idempotency_key(key);
  if (absl::Status s = c.Open(); !s.ok()) return Fail("submit", s);
  grpc::ClientContext context;
  c.Prepare(context);
  v1::Job job;
  if (grpc::Status s = c.stub->Submit(&context, r, &job); !s.ok())
    return Fail("submit", service::FromGrpc(s));
  std::printf("%s\n", job.id().c_str());
  std::fflush(stdout);
  if (!watch && output.empty()) return 0;
  absl::StatusOr<v1::Job> done = WatchJob(c, job.id(), previews, false);
  if (!done.ok()) return Fail("submit", done.status());
  std::fprintf(stderr, "%s\n", Describe(*done).c_str());
  PrintTimeToFirstFrame(*done);
  if (done->state() != v1::Job::SUCCEEDED) return 1;
  return output.empty() ? 0 : FetchTo(c, *done, output, "submit");
}

int RunWatch(const std::vector<std::string_view>& args) {
  Connection c;
  std::string previews;
  bool quiet = false;
  FlagSet flags("reel watch [options] JOB_ID");
  c.AddFlags(flags);
  flags.String("previews", &previews, "save block previews (PNG) in this directory");
  flags.Bool("quiet", &quiet, "no progress bar, only the final line");
  std::vector<std::string> ids;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "watch", &ids, &exit_code)) return exit_code;
  if (ids.size() != 1) return Usage("watch", "exactly one JOB_ID");
  if (absl::Status s = c.Open(); !s.ok()) return Fail("watch", s);
  absl::StatusOr<v1::Job> done = WatchJob(c, ids[0], previews, quiet);
  if (!done.ok()) return Fail("watch", done.status());
  std::printf("%s\n", Describe(*done).c_str());
  PrintTimeToFirstFrame(*done);
  return done->state() == v1::Job::SUCCEEDED ? 0 : 1;
}

int RunGet(const std::vector<std::string_view>& args) {
  Connection c;
  FlagSet flags("reel get [options] JOB_ID   (prints the job as JSON)");
  c.AddFlags(flags);
  std::vector<std::string> ids;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "get", &ids, &exit_code)) return exit_code;
  if (ids.size() != 1) return Usage("get", "exactly one JOB_ID");
  if (absl::Status s = c.Open(); !s.ok()) return Fail("get", s);
  absl::StatusOr<v1::Job> job = GetJob(c, ids[0]);
  if (!job.ok()) return Fail("get", job.status());
  std::printf("%s", ToJson(*job).c_str());
  return 0;
}

int RunCancel(const std::vector<std::string_view>& args) {
  Connection c;
  bool wait = false;
  FlagSet flags("reel cancel [options] JOB_ID");
  c.AddFlags(flags);
  flags.Bool("wait", &wait, "wait until the job has stopped");
  std::vector<std::string> ids;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "cancel", &ids, &exit_code)) return exit_code;
  if (ids.size() != 1) return Usage("cancel", "exactly one JOB_ID");
  if (absl::Status s = c.Open(); !s.ok()) return Fail("cancel", s);
  grpc::ClientContext context;
  c.Prepare(context);
  v1::CancelJobRequest request;
  request.set_id(ids[0]);
  v1::Job job;
  if (grpc::Status s = c.stub->Cancel(&context, request, &job); !s.ok()) {
    return Fail("cancel", service::FromGrpc(s));
  }
  if (wait && job.state() == v1::Job::RUNNING) {
    absl::StatusOr<v1::Job> done = WatchJob(c, job.id(), "", true);
    if (!done.ok()) return Fail("cancel", done.status());
    job = *done;
  }
  std::printf("%s%s\n", Describe(job).c_str(), job.cancel_requested() ? " (cancel requested)" : "");
  return 0;
}

int RunDelete(const std::vector<std::string_view>& args) {
  Connection c;
  FlagSet flags("reel delete [options] JOB_ID");
  c.AddFlags(flags);
  std::vector<std::string> ids;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "delete", &ids, &exit_code)) return exit_code;
  if (ids.size() != 1) return Usage("delete", "exactly one JOB_ID");
  if (absl::Status s = c.Open(); !s.ok()) return Fail("delete", s);
  grpc::ClientContext context;
  c.Prepare(context);
  v1::DeleteJobRequest request;
  request.set_id(ids[0]);
  google::protobuf::Empty empty;
  if (grpc::Status s = c.stub->Delete(&context, request, &empty); !s.ok()) {
    return Fail("delete", service::FromGrpc(s));
  }
  std::printf("%s deleted\n", ids[0].c_str());
  return 0;
}

int RunFetch(const std::vector<std::string_view>& args) {
  Connection c;
  std::string output;
  FlagSet flags("reel fetch [options] JOB_ID");
  c.AddFlags(flags);
  flags.String("output", &output, "file to write (default: <job id>.<ext>)");
  std::vector<std::string> ids;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "fetch", &ids, &exit_code)) return exit_code;
  if (ids.size() != 1) return Usage("fetch", "exactly one JOB_ID");
  if (absl::Status s = c.Open(); !s.ok()) return Fail("fetch", s);
  absl::StatusOr<v1::Job> job = GetJob(c, ids[0]);
  if (!job.ok()) return Fail("fetch", job.status());
  return FetchTo(c, *job, output, "fetch");
}

int RunList(const std::vector<std::string_view>& args) {
  Connection c;
  std::string states, page_token;
  int limit = 20;
  bool json = false;
  FlagSet flags("reel list [options]");
  c.AddFlags(flags);
  flags.String("state", &states, "only these states, e.g. QUEUED,RUNNING");
  flags.Int("limit", &limit, "jobs per page");
  flags.String("page_token", &page_token, "continue after an earlier page");
  flags.Bool("json", &json, "print the response as JSON");
  std::vector<std::string> rest;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "list", &rest, &exit_code)) return exit_code;
  if (!rest.empty()) return Usage("list", "no positional arguments");
  v1::ListJobsRequest request;
  request.set_page_size(limit);
  request.set_page_token(page_token);
  for (const std::string& s : service::SplitList(states)) {
    v1::Job::State state;
    if (!v1::Job::State_Parse(s, &state))
      return Usage("list", "--state: QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED");
    request.add_states(state);
  }
  if (absl::Status s = c.Open(); !s.ok()) return Fail("list", s);
  grpc::ClientContext context;
  c.Prepare(context);
  v1::ListJobsResponse page;
  if (grpc::Status s = c.stub->List(&context, request, &page); !s.ok())
    return Fail("list", service::FromGrpc(s));
  if (json) {
    std::printf("%s", ToJson(page).c_str());
    return 0;
  }
  std::printf("%-18s %-10s %5s  %-20s %s\n", "ID", "STATE", "DONE", "CREATED", "PROMPT");
  for (const v1::Job& job : page.jobs()) {
    const absl::Time created = absl::FromUnixSeconds(job.create_time().seconds());
    std::string prompt = job.request().prompt();
    if (prompt.size() > 40) prompt = prompt.substr(0, 37) + "...";
    std::printf("%-18s %-10s %4d%%  %-20s %s\n", job.id().c_str(),
                v1::Job::State_Name(job.state()).c_str(),
                static_cast<int>(
                    (job.state() == v1::Job::SUCCEEDED ? 1.0 : job.progress().fraction()) * 100),
                absl::FormatTime("%Y-%m-%d %H:%M:%S", created, absl::LocalTimeZone()).c_str(),
                prompt.c_str());
  }
  if (!page.next_page_token().empty())
    std::printf("next page: --page_token %s\n", page.next_page_token().c_str());
  return 0;
}

int RunServerModels(const std::vector<std::string_view>& args) {
  Connection c;
  bool json = false;
  FlagSet flags("reel server-models [options]");
  c.AddFlags(flags);
  flags.Bool("json", &json, "print the ListModels response as JSON");
  std::vector<std::string> rest;
  int exit_code = 0;
  if (!ParseOrExit(flags, args, "server-models", &rest, &exit_code)) return exit_code;
  if (!rest.empty()) return Usage("server-models", "no positional arguments");
  if (absl::Status s = c.Open(); !s.ok()) return Fail("server-models", s);
  grpc::ClientContext context;
  c.Prepare(context);
  v1::ListModelsResponse models;
  if (grpc::Status s = c.stub->ListModels(&context, v1::ListModelsRequest(), &models); !s.ok())
    return Fail("server-models", service::FromGrpc(s));
  if (json) {
    std::printf("%s", ToJson(models).c_str());
    return 0;
  }
  if (models.models().empty()) {
    std::printf("no worker has registered with this server yet\n");
    return 0;
  }
  std::printf("%-16s %7s  %-26s %5s %5s %10s %9s  %s\n", "NAME", "WORKERS", "DEFAULT VIDEO",
              "STEPS", "BLOCK", "MAX FRAMES", "SIZE STEP", "ATTENTION");
  for (const v1::ModelInfo& m : models.models()) {
    const std::string video =
        absl::StrFormat("%dx%d, %d frames @ %g fps", m.default_width(), m.default_height(),
                        m.default_frames(), m.default_fps());
    std::printf("%-16s %7d  %-26s %5d %5d %10d %9d  %s\n", m.name().c_str(), m.workers(),
                video.c_str(), m.default_steps(), m.block_frames(), m.max_frames(),
                m.spatial_factor(), m.attention().c_str());
  }
  return 0;
}

}  // namespace
REEL_COMMAND("submit", "submit a render job to a reel server (--watch, --output to wait for it)",
             RunSubmit);
REEL_COMMAND("watch", "follow a job's progress until it ends", RunWatch);
REEL_COMMAND("get", "print a job as JSON", RunGet);
REEL_COMMAND("cancel", "cancel a queued or running job", RunCancel);
REEL_COMMAND("delete", "delete a finished job and its result", RunDelete);
REEL_COMMAND("fetch", "download a finished job's result", RunFetch);
REEL_COMMAND("list", "list jobs, newest first", RunList);
REEL_COMMAND("server-models",
             "list the models a reel server's workers serve, with defaults and limits (ListModels)",
             RunServerModels);
}  // namespace reel::cli
