#include "services/gateway/http_api.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/limits.h"
#include "services/gateway/http_json.h"
#include "services/gateway/http_range.h"
#include "services/gateway/job_events.h"
#include "services/gateway/result_reader.h"
#include "services/gateway/validation.h"
#include "services/gateway/web_page.h"

namespace reel::gateway {
namespace {

using service::HttpRequest;
using service::HttpResponse;
using service::HttpStream;

constexpr char kJson[] = "application/json; charset=utf-8";
constexpr absl::Duration kKeepAlive = absl::Seconds(5);  // an SSE comment when nothing happens

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

HttpResponse JsonOk(const google::protobuf::Message& message) {
  HttpResponse r;
  r.content_type = kJson;
  r.body = ToJson(message) + "\n";
  return r;
}

// The request body as `message` (protobuf's JSON mapping; unknown fields are errors).
template <typename T>
HttpResponse Reply(const absl::StatusOr<T>& result) {
  return result.ok() ? JsonOk(*result) : JsonError(result.status());
}

bool QueryFlag(const HttpRequest& request, const std::string& name) {
  const auto it = request.query.find(name);
  if (it == request.query.end()) return false;
  const std::string v = absl::AsciiStrToLower(it->second);
  return v.empty() || v == "true" || v == "1";
}

// A query parameter by its JSON name or its proto name ("pageSize" or "page_size").
const std::string* QueryParam(const HttpRequest& request, const std::string& json_name,
                              const std::string& proto_name) {
  for (const std::string& name : {json_name, proto_name}) {
    const auto it = request.query.find(name);
    if (it != request.query.end()) return &it->second;
  }
  return nullptr;
}

absl::StatusOr<v1::ListJobsRequest> ListRequestOf(const HttpRequest& request) {
  v1::ListJobsRequest list;
  if (const std::string* v = QueryParam(request, "pageSize", "page_size")) {
    int size = 0;
    if (!absl::SimpleAtoi(*v, &size)) {
      return absl::InvalidArgumentError(absl::StrCat("page_size: '", *v, "' is not an integer"));
    }
    list.set_page_size(size);
  }
  if (const std::string* v = QueryParam(request, "pageToken", "page_token")) {
    list.set_page_token(*v);
  }
  if (const std::string* v = QueryParam(request, "states", "states")) {
    for (absl::string_view name : absl::StrSplit(*v, ',', absl::SkipEmpty())) {
      v1::Job::State state;
      if (!v1::Job::State_Parse(std::string(name), &state)) {
        return absl::InvalidArgumentError(absl::StrCat("states: '", name, "' is not a job state"));
      }
      list.add_states(state);
    }
  }
  return list;
}

// GET /v1/jobs/{id}/events: the JobEventCursor's events as Server-Sent Events, `event:` naming
// the JobEvent member and `data:` its JSON.
class EventStream final : public HttpStream {
 public:
  EventStream(Scheduler& scheduler, std::string id, service::Principal who, bool previews,
              StreamLimiter::Slot slot)
      : events_(scheduler, std::move(id), std::move(who), previews), slot_(std::move(slot)) {}

  Step Next(std::string* out) override {
    if (events_.done() || failed_) return Step::kEnd;
    absl::StatusOr<std::optional<v1::JobEvent>> event = events_.Next(absl::InfinitePast());
    if (!event.ok()) {
      failed_ = true;
      *out = absl::StrCat("event: error\ndata: ", JsonError(event.status()).body, "\n");
      return Step::kData;
    }
    const absl::Time now = absl::Now();
    if (!event->has_value()) {
      if (now - last_sent_ < kKeepAlive) return Step::kWait;
      *out = ": keep-alive\n\n";
    } else {
      const v1::JobEvent& e = **event;
      const char* name = e.has_snapshot()   ? "snapshot"
                         : e.has_progress() ? "progress"
                         : e.has_preview()  ? "preview"
                                            : "final";
      const google::protobuf::Message& body =
          e.has_snapshot()   ? static_cast<const google::protobuf::Message&>(e.snapshot())
          : e.has_progress() ? static_cast<const google::protobuf::Message&>(e.progress())
          : e.has_preview()  ? static_cast<const google::protobuf::Message&>(e.preview())
                             : static_cast<const google::protobuf::Message&>(e.final());
      *out = absl::StrCat("event: ", name, "\ndata: ", ToJson(body), "\n\n");
    }
    last_sent_ = now;
    return Step::kData;
  }

 private:
  JobEventCursor events_;
  StreamLimiter::Slot slot_;
  absl::Time last_sent_ = absl::Now();
  bool failed_ = false;
};

// GET /v1/jobs/{id}/result: the ResultReader's bytes, at most `limit` of them (-1: all). A
// re-queued job cannot be told in a byte stream: the body is cut (the client sees a truncated
// transfer; the events stream shows the new attempt) and the client fetches again.
class ResultStream final : public HttpStream {
 public:
  ResultStream(Scheduler& scheduler, std::string id, std::unique_ptr<ResultReader> reader,
               ResultReader::Piece first, int64_t limit, StreamLimiter::Slot slot)
      : scheduler_(scheduler),
        id_(std::move(id)),
        reader_(std::move(reader)),
        first_(std::move(first)),
        has_first_(true),
        left_(limit),
        slot_(std::move(slot)) {}

  Step Next(std::string* out) override {
    if (left_ == 0) return Step::kEnd;
    ResultReader::Piece piece;
    if (has_first_) {
      piece = std::move(first_);
      has_first_ = false;
    } else {
      // While waiting, look at the job again only once it changed (a new block, a new state), or
      // after kRecheck in case a change went unannounced: not a store read per poll per follower.
      const uint64_t version = scheduler_.Version(id_);
      const absl::Time now = absl::Now();
      if (waiting_ && version == wait_version_ && now - wait_since_ < kRecheck) return Step::kWait;
      waiting_ = false;
      const int64_t want = left_ < 0 ? service::kDefaultChunkBytes
                                     : std::min<int64_t>(left_, service::kDefaultChunkBytes);
      absl::StatusOr<ResultReader::Piece> next = reader_->Next(want);
      if (!next.ok()) return Step::kAbort;
      piece = *std::move(next);
      if (piece.kind == ResultReader::Piece::kWait) {
        waiting_ = true;
        wait_version_ = version;
        wait_since_ = now;
      }
    }
    switch (piece.kind) {
      case ResultReader::Piece::kWait:
        return Step::kWait;
      case ResultReader::Piece::kEnd:
        return left_ > 0 ? Step::kAbort : Step::kEnd;
      case ResultReader::Piece::kRestart:
        return Step::kAbort;
      case ResultReader::Piece::kData:
        break;
    }
    if (left_ > 0) {
      if (static_cast<int64_t>(piece.data.size()) > left_) piece.data.resize(left_);
      left_ -= static_cast<int64_t>(piece.data.size());
    }
    *out = std::move(piece.data);
    if (out->empty()) return piece.last ? Step::kEnd : Step::kWait;
    return Step::kData;
  }

 private:
  static constexpr absl::Duration kRecheck = absl::Seconds(1);

  Scheduler& scheduler_;
  const std::string id_;
  bool waiting_ = false;
  uint64_t wait_version_ = 0;
  absl::Time wait_since_;
  std::unique_ptr<ResultReader> reader_;
  ResultReader::Piece first_;
  bool has_first_;
  int64_t left_;
  StreamLimiter::Slot slot_;
};

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

HttpResponse JsonError(const absl::Status& status) {
  HttpResponse r;
  r.status = HttpStatusOf(status.code());
  r.content_type = kJson;
  nlohmann::json body;
  body["error"] = {{"code", r.status},
                   {"status", absl::StatusCodeToString(status.code())},
                   {"message", std::string(status.message())}};
  r.body = body.dump() + "\n";
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return r;
}

HttpResponse HttpApi::Serve(const HttpRequest& request) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/" || path == "/index.html") {
    if (!get) return JsonError(absl::UnimplementedError("/: only GET"));
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(WebPage());
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  if (!absl::StartsWith(path, "/v1/")) {
    return JsonError(absl::NotFoundError(absl::StrCat("no such resource: ", path)));
  }
  absl::StatusOr<service::Principal> who = service_.Caller(request.Header("authorization"));
  if (!who.ok()) return JsonError(who.status());
  const auto wrong_method = [&](const char* allowed) {
    HttpResponse r = JsonError(absl::UnimplementedError(
        absl::StrCat(method, " ", path, ": method not allowed (", allowed, ")")));
    r.status = 405;
    r.headers.emplace_back("Allow", allowed);
    return r;
  };

  if (path == "/v1/models") {
    if (!get) return wrong_method("GET");
    return JsonOk(service_.ListModels());
  }
  if (path == "/v1/jobs") {
    if (method == "POST") {
      v1::GenerateRequest submit;
      if (absl::Status s = ParseJsonBody(request, &submit); !s.ok()) return JsonError(s);
      return Reply(service_.Submit(*who, submit));
    }
    if (!get) return wrong_method("GET, POST");
    absl::StatusOr<v1::ListJobsRequest> list = ListRequestOf(request);
    if (!list.ok()) return JsonError(list.status());
    return Reply(service_.List(*who, *list));
  }
  constexpr absl::string_view kJobs = "/v1/jobs/";
  if (!absl::StartsWith(path, kJobs)) {
    return JsonError(absl::NotFoundError(absl::StrCat("no such resource: ", path)));
  }
  // {id} (GET, DELETE), {id}:cancel, {id}/events, {id}/result
  const std::string rest = path.substr(kJobs.size());
  const size_t cut = rest.find_first_of(":/");
  const std::string id = rest.substr(0, cut);
  const std::string tail = cut == std::string::npos ? "" : rest.substr(cut);
  if (absl::Status s = ValidateJobId(id); !s.ok()) return JsonError(s);
  if (tail.empty()) {
    if (method == "DELETE") {  // AIP-135: an empty body on success
      v1::DeleteJobRequest remove;
      remove.set_id(id);
      if (absl::Status s = service_.Delete(*who, remove); !s.ok()) return JsonError(s);
      return JsonOk(google::protobuf::Empty());
    }
    if (!get) return wrong_method("GET, DELETE");
    v1::GetJobRequest get_request;
    get_request.set_id(id);
    return Reply(service_.Get(*who, get_request));
  }
  if (tail == ":cancel") {
    if (method != "POST") return wrong_method("POST");
    v1::CancelJobRequest cancel;
    cancel.set_id(id);
    return Reply(service_.Cancel(*who, cancel));
  }
  if (tail == "/events" || tail == "/result") {
    if (!get) return wrong_method("GET");
    // Errors (unknown job, another client's) are plain JSON answers, before any stream starts.
    v1::GetJobRequest get_request;
    get_request.set_id(id);
    absl::StatusOr<v1::Job> job = service_.Get(*who, get_request);
    if (!job.ok()) return JsonError(job.status());
    absl::StatusOr<StreamLimiter::Slot> slot = service_.AcquireStream(*who);
    if (!slot.ok()) return JsonError(slot.status());
    HttpResponse r;
    r.headers.emplace_back("Cache-Control", "no-store");
    if (tail == "/events") {
      r.content_type = "text/event-stream; charset=utf-8";
      r.stream = std::make_unique<EventStream>(service_.scheduler(), id, *who,
                                               QueryFlag(request, "previews"), *std::move(slot));
      return r;
    }
    const bool follow = QueryFlag(request, "follow");
    int64_t offset = 0;
    int64_t limit = -1;
    if (const std::string* v = QueryParam(request, "offset", "offset")) {
      if (!absl::SimpleAtoi(*v, &offset)) {
        return JsonError(
            absl::InvalidArgumentError(absl::StrCat("offset: '", *v, "' is not an integer")));
      }
    }
    if (job->state() == v1::Job::SUCCEEDED) {
      // A finished result is a plain file: Content-Length, and Range for seeking and resuming.
      const int64_t total = job->result().size_bytes();
      r.headers.emplace_back("Accept-Ranges", "bytes");
      if (const std::string* range = request.Header("range")) {
        absl::StatusOr<ByteRange> span = ParseRange(*range, total);
        if (!span.ok() && span.status().code() != absl::StatusCode::kOutOfRange) {
          span = ByteRange{0, total - 1};  // RFC 9110: a Range that does not parse is ignored
        }
        if (!span.ok()) {
          HttpResponse bad = JsonError(span.status());
          bad.status = 416;
          bad.headers.emplace_back("Content-Range", absl::StrCat("bytes */", total));
          return bad;
        }
        offset = span->first;
        limit = span->last - span->first + 1;
        r.status = 206;
        r.headers.emplace_back("Content-Range",
                               absl::StrCat("bytes ", span->first, "-", span->last, "/", total));
      } else {
        limit = total - std::clamp<int64_t>(offset, 0, total);
      }
    }
    auto reader = std::make_unique<ResultReader>(service_.scheduler(), id, *who, offset, follow);
    absl::StatusOr<ResultReader::Piece> first = reader->Next(
        limit < 0 ? service::kDefaultChunkBytes
                  : std::min<int64_t>(std::max<int64_t>(limit, 0), service::kDefaultChunkBytes));
    if (!first.ok()) return JsonError(first.status());
    r.content_type = first->mime_type.empty() ? "application/octet-stream" : first->mime_type;
    r.stream_bytes = limit;
    r.stream = std::make_unique<ResultStream>(service_.scheduler(), id, std::move(reader),
                                              *std::move(first), limit, *std::move(slot));
    return r;
  }
  return JsonError(absl::NotFoundError(absl::StrCat("no such resource: ", path)));
}

}  // namespace reel::gateway
