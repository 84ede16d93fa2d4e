// The HTTP/JSON API (issue 17) against a real gateway + worker, driven by the curl CLI (an HTTP
// client independent of the server's library). Parity: the gateway's gRPC test cases replayed over
// HTTP — a valid job end to end, every INVALID_ARGUMENT case (same message as gRPC's), NOT_FOUND,
// auth — plus malformed and oversized bodies, Server-Sent Events order, Range requests, a result
// followed while it renders, and cancel.
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/services/fake_renderer.h"
#include "tests/services/invalid_requests.h"
#include "tests/services/service_test_util.h"

namespace reel::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kOps[] = "ops-token-0123456789ab";
constexpr char kPod[] = "pod-token-0123456789ab";

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string headers;  // raw, lower-cased
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class HttpApiTest : public ::testing::Test {
 protected:
  void StartStack(const std::string& token_file = "", FakeRendererOptions renderer = {}) {
    StackOptions options;
    options.http_listen = "127.0.0.1:0";
    options.token_file = token_file;
    auto gateway = StartGateway(dir_.path(), options);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
    stub_ = Client(gateway_->port());
    renderer_ = std::make_unique<FakeRenderer>(renderer);
    workers_.push_back(StartWorker(gateway_->port(), *renderer_, gateway_->result_dir(),
                                   token_file.empty() ? "" : kPod));
    ASSERT_TRUE(workers_.back()->WaitUntilRegistered(absl::Seconds(10)));
  }
  void TearDown() override {
    for (auto& w : workers_) w->Stop();
    if (gateway_) gateway_->Shutdown();
  }
  std::string TokenFile() {
    const std::string file = dir_.File("tokens");
    std::ofstream(file) << kAlice << " client alice\n"
                        << kBob << " client bob\n"
                        << kOps << " admin ops\n"
                        << kPod << " worker\n";
    return file;
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", gateway_->http_port(), path);
  }
  // One request through curl; `extra` are more curl arguments (already quoted).
  HttpAnswer Http(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& token = "", const std::string& extra = "") {
    const std::string body_file = dir_.File("request.json");
    const std::string out_file = dir_.File("response.bin");
    const std::string head_file = dir_.File("response.head");
    std::ofstream(body_file, std::ios::binary) << body;
    std::string command = absl::StrCat("curl -sS --max-time 30 -X ", method, " -o '", out_file,
                                       "' -D '", head_file, "' -w '%{http_code}' ", extra);
    if (!body.empty()) {
      absl::StrAppend(&command, " -H 'Content-Type: application/json' --data-binary @'", body_file,
                      "'");
    }
    if (!token.empty()) absl::StrAppend(&command, " -H 'Authorization: Bearer ", token, "'");
    absl::StrAppend(&command, " '", Url(path), "'");
    int exit_code = -1;
    const std::string code = RunCommand(command, &exit_code);
    HttpAnswer answer;
    answer.status = std::atoi(code.c_str());
    answer.body = ReadFileOrEmpty(out_file);
    answer.headers = absl::AsciiStrToLower(ReadFileOrEmpty(head_file));
    return answer;
  }
  std::string Json(const v1::GenerateRequest& request) {
    std::string out;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(request, &out).ok());
    return out;
  }

  std::string SubmitHttp(const std::string& body, const std::string& token = "") {
    const HttpAnswer a = Http("POST", "/v1/jobs", body, token);
    EXPECT_EQ(a.status, 200) << a.body;
    return a.json().value("id", "");
  }
  std::string WaitHttp(const std::string& id, const std::string& token = "") {
    std::string state;
    WaitFor(
        [&] {
          state = Http("GET", "/v1/jobs/" + id, "", token).json().value("state", "");
          return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
        },
        absl::Seconds(30));
    return state;
  }

  TempDir dir_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<v1::GenerationService::Stub> stub_;
  std::unique_ptr<FakeRenderer> renderer_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
};

TEST_F(HttpApiTest, AValidJobEndToEndWithRange) {
  StartStack();
  const std::string id = SubmitHttp(R"({"prompt": "a red ball", "frames": 8, "seed": "7"})");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(WaitHttp(id), "SUCCEEDED");
  const HttpAnswer job = Http("GET", "/v1/jobs/" + id);
  EXPECT_EQ(job.json()["request"]["seed"], "7") << "int64 as a string (protobuf JSON mapping)";
  EXPECT_EQ(job.json()["result"]["mimeType"], "video/mp4");

  const std::string grpc_bytes = FetchResultBytes(*stub_, id);
  const HttpAnswer whole = Http("GET", "/v1/jobs/" + id + "/result");
  EXPECT_EQ(whole.status, 200);
  EXPECT_TRUE(whole.body == grpc_bytes) << "HTTP and gRPC results differ";
  EXPECT_THAT(whole.headers, HasSubstr("accept-ranges: bytes"));
  EXPECT_THAT(whole.headers, HasSubstr("content-type: video/mp4"));
  const std::string file = dir_.File("whole.mp4");
  std::ofstream(file, std::ios::binary) << whole.body;
  EXPECT_EQ(Probe(file)["nb_read_frames"], "8");

  const HttpAnswer part =
      Http("GET", "/v1/jobs/" + id + "/result", "", "", "-H 'Range: bytes=10-99'");
  EXPECT_EQ(part.status, 206);
  EXPECT_TRUE(part.body == grpc_bytes.substr(10, 90));
  EXPECT_THAT(part.headers,
              HasSubstr(absl::StrCat("content-range: bytes 10-99/", grpc_bytes.size())));
  const HttpAnswer tail = Http("GET", "/v1/jobs/" + id + "/result", "", "", "-H 'Range: bytes=-5'");
  EXPECT_EQ(tail.status, 206);
  EXPECT_TRUE(tail.body == grpc_bytes.substr(grpc_bytes.size() - 5));
  const HttpAnswer past = Http("GET", "/v1/jobs/" + id + "/result", "", "",
                               absl::StrCat("-H 'Range: bytes=", grpc_bytes.size(), "-'"));
  EXPECT_EQ(past.status, 416);
  EXPECT_THAT(past.headers, HasSubstr(absl::StrCat("content-range: bytes */", grpc_bytes.size())));

  const HttpAnswer list = Http("GET", "/v1/jobs?pageSize=5&states=SUCCEEDED");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["jobs"][0]["id"], id);
  EXPECT_EQ(Http("GET", "/v1/jobs?states=NOPE").status, 400);
  const HttpAnswer models = Http("GET", "/v1/models");
  EXPECT_EQ(models.json()["models"][0]["name"], "fake-tiny");

  // DELETE (AIP-135): an empty JSON object, then the job and its result are gone, as over gRPC.
  const HttpAnswer deleted = Http("DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.json(), nlohmann::json::object());
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id).status, 404);
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id + "/result").status, 404);
  EXPECT_EQ(Http("DELETE", "/v1/jobs/" + id).json()["error"]["status"], "NOT_FOUND");
}

TEST_F(HttpApiTest, EveryInvalidArgumentCaseAnswersAsGrpcDoes) {
  StartStack();
  for (const InvalidCase& c : InvalidCases()) {
    v1::GenerateRequest request = ValidRequest();
    c.mutate(request);
    v1::Job ignored;
    const grpc::Status grpc_status = Submit(*stub_, request, &ignored);
    const HttpAnswer a = Http("POST", "/v1/jobs", Json(request));
    EXPECT_EQ(a.status, 400) << c.name << ": " << a.body;
    const nlohmann::json error = a.json()["error"];
    EXPECT_EQ(error["status"], "INVALID_ARGUMENT") << c.name;
    EXPECT_EQ(error["code"], 400) << c.name;
    EXPECT_EQ(error["message"], grpc_status.error_message()) << c.name;
    EXPECT_THAT(error["message"].get<std::string>(), StartsWith(c.field + ":")) << c.name;
  }
}

TEST_F(HttpApiTest, MalformedOversizedAndUnknownRequests) {
  StartStack();
  HttpAnswer a = Http("POST", "/v1/jobs", "{\"prompt\": ");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.json()["error"]["message"].get<std::string>(), HasSubstr("request body"));
  a = Http("POST", "/v1/jobs", R"({"prompt": "x", "colour": "red"})");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.json()["error"]["message"].get<std::string>(), HasSubstr("colour"));
  a = Http("POST", "/v1/jobs", R"({"prompt": "x", "frames": "many"})");
  EXPECT_EQ(a.status, 400);
  a = Http("POST", "/v1/jobs", absl::StrCat(R"({"prompt": ")", std::string(100000, 'a'), "\"}"));
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.json()["error"]["message"].get<std::string>(), HasSubstr("larger than"));
  a = Http("POST", "/v1/jobs", " ");
  EXPECT_EQ(a.status, 400);

  for (const std::string path : {"/v1/jobs/jdeadbeefdeadbeef", "/v1/jobs/jdeadbeefdeadbeef/result",
                                 "/v1/jobs/jdeadbeefdeadbeef/events", "/v1/nothing"}) {
    a = Http("GET", path);
    EXPECT_EQ(a.status, 404) << path;
    EXPECT_EQ(a.json()["error"]["status"], "NOT_FOUND") << path;
  }
  EXPECT_EQ(Http("POST", "/v1/jobs/jdeadbeefdeadbeef:cancel").status, 404);
  EXPECT_EQ(Http("GET", "/v1/jobs/not%20an%20id").status, 400);
  EXPECT_EQ(Http("DELETE", "/v1/jobs").status, 405);
  EXPECT_EQ(Http("GET", "/v1/jobs/jdeadbeefdeadbeef:cancel").status, 405);
}

TEST_F(HttpApiTest, TokensRolesAndTenantsAsOverGrpc) {
  StartStack(TokenFile());
  HttpAnswer a = Http("GET", "/v1/jobs");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.json()["error"]["status"], "UNAUTHENTICATED");
  EXPECT_EQ(Http("GET", "/v1/jobs", "", "not-a-token-0123456789").status, 401);
  a = Http("POST", "/v1/jobs", R"({"prompt": "x"})", kPod);
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(a.json()["error"]["status"], "PERMISSION_DENIED");
  const std::string id = SubmitHttp(R"({"prompt": "alice's", "frames": 4})", kAlice);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id, "", kAlice).status, 200);
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id, "", kBob).status, 404) << "another tenant's job";
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id + "/events", "", kBob).status, 404);
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id + "/result?follow=true", "", kBob).status, 404);
  EXPECT_EQ(Http("GET", "/v1/jobs/" + id, "", kOps).status, 200) << "admins see all";
  EXPECT_EQ(Http("GET", "/v1/jobs", "", kBob).json().value("jobs", nlohmann::json::array()).size(),
            0u);
  EXPECT_EQ(WaitHttp(id, kAlice), "SUCCEEDED");
}

TEST_F(HttpApiTest, ServerSentEventsComeInOrder) {
  FakeRendererOptions slow;
  slow.frames = 12;
  slow.step_delay = absl::Milliseconds(30);
  StartStack("", slow);
  const std::string id = SubmitHttp(R"({"prompt": "events", "frames": 12})");
  const HttpAnswer a = Http("GET", "/v1/jobs/" + id + "/events?previews=true", "", "", "-N");
  ASSERT_EQ(a.status, 200);
  EXPECT_THAT(a.headers, HasSubstr("content-type: text/event-stream"));
  std::vector<std::pair<std::string, nlohmann::json>> events;
  for (absl::string_view block : absl::StrSplit(a.body, "\n\n", absl::SkipEmpty())) {
    std::string name;
    std::string data;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::ConsumePrefix(&line, "event: ")) name = std::string(line);
      if (absl::ConsumePrefix(&line, "data: ")) data = std::string(line);
    }
    if (!name.empty()) events.emplace_back(name, nlohmann::json::parse(data));
  }
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().first, "snapshot");
  EXPECT_EQ(events.back().first, "final");
  EXPECT_EQ(events.back().second["state"], "SUCCEEDED");
  int previews = 0;
  int last_block = 0;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    const auto& [name, json] = events[i];
    ASSERT_TRUE(name == "progress" || name == "preview") << name;
    if (name == "preview") {
      ++previews;
      EXPECT_EQ(json["block"], previews) << "previews in block order";
      EXPECT_FALSE(json["png"].get<std::string>().empty());
    } else {
      const int block = json["progress"].value("block", 0);
      EXPECT_GE(block, last_block) << "progress never goes back";
      last_block = block;
    }
  }
  EXPECT_EQ(previews, 3) << "one preview per block";
}

TEST_F(HttpApiTest, AFollowedResultIsTheFinishedFileAndCancelWorks) {
  FakeRendererOptions slow;
  slow.frames = 16;
  slow.step_delay = absl::Milliseconds(60);
  StartStack("", slow);
  const std::string id =
      SubmitHttp(R"({"prompt": "followed", "frames": 16, "outputFormat": "webm"})");
  const HttpAnswer followed = Http("GET", "/v1/jobs/" + id + "/result?follow=true", "", "", "-N");
  EXPECT_EQ(followed.status, 200);
  EXPECT_THAT(followed.headers, HasSubstr("content-type: video/webm"));
  EXPECT_THAT(followed.headers, HasSubstr("transfer-encoding: chunked")) << "sent while running";
  ASSERT_EQ(WaitHttp(id), "SUCCEEDED");
  EXPECT_TRUE(followed.body == FetchResultBytes(*stub_, id));

  const std::string other = SubmitHttp(R"({"prompt": "cancel me", "frames": 16})");
  const HttpAnswer cancelled = Http("POST", "/v1/jobs/" + other + ":cancel");
  EXPECT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(WaitHttp(other), "CANCELLED");
  const HttpAnswer none = Http("GET", "/v1/jobs/" + other + "/result");
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(none.json()["error"]["status"], "FAILED_PRECONDITION");
  EXPECT_EQ(Http("POST", "/v1/jobs/" + id + ":cancel").json()["error"]["status"],
            "FAILED_PRECONDITION");
  // A running job cannot be deleted (cancel it first).
  const std::string running = SubmitHttp(R"({"prompt": "still running", "frames": 16})");
  const HttpAnswer refused = Http("DELETE", "/v1/jobs/" + running);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.json()["error"]["status"], "FAILED_PRECONDITION");
}

TEST_F(HttpApiTest, ThePageAndTheProbesAreServed) {
  StartStack();
  const HttpAnswer page = Http("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.headers, HasSubstr("content-type: text/html"));
  EXPECT_THAT(page.body, HasSubstr("<video"));
  EXPECT_THAT(page.body, Not(HasSubstr("http://"))) << "no CDN: the page works offline";
  EXPECT_EQ(Http("GET", "/healthz").status, 200);
  EXPECT_THAT(Http("GET", "/metrics").body, HasSubstr("reel_time_to_first_frame_seconds"));
}

}  // namespace
}  // namespace reel::testing
