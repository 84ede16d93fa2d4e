// services/common: flags, token files, Prometheus text format, the tiny HTTP server, result names.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "gtest/gtest.h"
#include "services/common/auth.h"
#include "services/common/flags.h"
#include "services/common/http_server.h"
#include "services/common/metrics.h"
#include "services/common/result_files.h"
#include "tests/services/temp_dir.h"

namespace reel::service {
namespace {

using reel::testing::TempDir;

TEST(FlagSetTest, ParsesEveryFormAndKeepsDefaults) {
  std::string server = "default:1", name;
  int steps = 20, untouched = 7;
  double cfg = 4.5;
  bool watch = false, tls = true;
  uint64_t seed = 0;
  FlagSet flags("test");
  flags.String("server", &server, "");
  flags.String("name", &name, "");
  flags.Int("steps", &steps, "");
  flags.Int("untouched", &untouched, "");
  flags.Double("cfg", &cfg, "");
  flags.Bool("watch", &watch, "");
  flags.Bool("tls", &tls, "");
  flags.Uint64("seed", &seed, "");
  auto rest =
      flags.Parse({"--server=h:2", "a", "-steps", "-5", "--cfg", "1.5", "--watch", "--notls",
                   "--seed=18446744073709551615", "b", "--", "--name=not-a-flag"});
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(*rest, (std::vector<std::string>{"a", "b", "--name=not-a-flag"}));
  EXPECT_EQ(server, "h:2");
  EXPECT_EQ(name, "");
  EXPECT_EQ(steps, -5);
  EXPECT_EQ(untouched, 7);
  EXPECT_DOUBLE_EQ(cfg, 1.5);
  EXPECT_TRUE(watch);
  EXPECT_FALSE(tls);
  EXPECT_EQ(seed, 18446744073709551615ull);
  EXPECT_FALSE(flags.help_requested());
}

TEST(FlagSetTest, ErrorsNameTheFlag) {
  int steps = 0;
  FlagSet flags("test");
  flags.Int("steps", &steps, "denoising steps");
  EXPECT_NE(flags.Parse({"--stpes=3"}).status().message().find("--stpes"), absl::string_view::npos);
  EXPECT_NE(flags.Parse({"--steps=x"}).status().message().find("--steps"), absl::string_view::npos);
  EXPECT_NE(flags.Parse({"--steps"}).status().message().find("needs a value"),
            absl::string_view::npos);
  ASSERT_TRUE(flags.Parse({"--help"}).ok());
  EXPECT_TRUE(flags.help_requested());
  EXPECT_NE(flags.Help().find("--steps  denoising steps (default 0)"), std::string::npos)
      << flags.Help();
}

TEST(TokenSetTest, ReadsTokensSkippingCommentsAndRejectsWeakOnes) {
  TempDir dir;
  std::ofstream(dir.File("ok"))
      << "# comment\n\n  first-token-0123456789  \nsecond-token-0123456789\n";
  auto set = TokenSet::FromFile(dir.File("ok"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->enabled());
  EXPECT_NE(set->Find("first-token-0123456789"), nullptr);
  EXPECT_NE(set->Find("second-token-0123456789"), nullptr);
  EXPECT_EQ(set->Find("first-token-012345678"), nullptr);
  EXPECT_EQ(set->Find(""), nullptr);
  EXPECT_EQ(*ReadFirstToken(dir.File("ok")), "first-token-0123456789");

  std::ofstream(dir.File("short")) << "tooshort\n";
  EXPECT_EQ(TokenSet::FromFile(dir.File("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::ofstream(dir.File("empty")) << "# nothing\n";
  EXPECT_EQ(TokenSet::FromFile(dir.File("empty")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenSet::FromFile(dir.File("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(TokenSet().enabled());
  EXPECT_EQ(RandomToken().size(), 32u);
  EXPECT_NE(RandomToken(), RandomToken());
}

TEST(TokenSetTest, EntriesHaveARoleAndAPrincipalName) {
  TempDir dir;
  std::ofstream(dir.File("roles")) << "bare-token-0123456789\n"
                                   << "alice-token-0123456789 client alice\n"
                                   << "alice-rotated-0123456789\tclient\talice\n"
                                   << "ops-token-0123456789 admin ops\n"
                                   << "pod-token-0123456789 worker\n";
  auto set = TokenSet::FromFile(dir.File("roles"));
  ASSERT_TRUE(set.ok()) << set.status();
  const TokenSet::Entry* bare = set->Find("bare-token-0123456789");
  ASSERT_NE(bare, nullptr);
  EXPECT_EQ(bare->role, Role::kClient);  // a bare token is a client, never a worker
  EXPECT_EQ(bare->name, DefaultPrincipalName("bare-token-0123456789"));
  EXPECT_EQ(bare->name.rfind("client-", 0), 0u);
  EXPECT_EQ(set->Find("alice-rotated-0123456789")->name, "alice");
  EXPECT_EQ(set->Find("ops-token-0123456789")->role, Role::kAdmin);
  EXPECT_EQ(set->Find("pod-token-0123456789")->role, Role::kWorker);

  std::ofstream(dir.File("bad-role")) << "some-token-0123456789 root\n";
  auto bad = TokenSet::FromFile(dir.File("bad-role"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("bad-role:1: unknown role 'root'"), std::string::npos)
      << bad.status();
  std::ofstream(dir.File("bad-name")) << "some-token-0123456789 client a/b\n";
  EXPECT_EQ(TokenSet::FromFile(dir.File("bad-name")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetricsTest, RendersThePrometheusTextFormat) {
  MetricsRegistry registry;
  Counter& jobs = registry.AddCounter("reel_test_total", "Things counted.", "state=\"A\"");
  registry.AddCounter("reel_test_total", "ignored", "state=\"B\"").Increment(2);
  Gauge& depth = registry.AddGauge("reel_depth", "Depth.");
  Histogram& h = registry.AddHistogram("reel_seconds", "Durations.", {0.1, 1.0});
  jobs.Increment();
  int hooks = 0;
  registry.AddScrapeHook([&] { depth.Set(++hooks * 10); });
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(7);
  const std::string text = registry.Render();
  EXPECT_EQ(text,
            "# HELP reel_depth Depth.\n# TYPE reel_depth gauge\nreel_depth 10\n"
            "# HELP reel_seconds Durations.\n# TYPE reel_seconds histogram\n"
            "reel_seconds_bucket{le=\"0.1\"} 1\nreel_seconds_bucket{le=\"1\"} 2\n"
            "reel_seconds_bucket{le=\"+Inf\"} 3\nreel_seconds_sum 7.55\nreel_seconds_count 3\n"
            "# HELP reel_test_total Things counted.\n# TYPE reel_test_total counter\n"
            "reel_test_total{state=\"A\"} 1\nreel_test_total{state=\"B\"} 2\n");
}

TEST(HttpServerTest, ServesRegisteredPathsOnly) {
  HttpServer server;
  server.Handle("/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  auto get = [&](const std::string& path) {
    const std::string cmd =
        "/usr/bin/python3 -c \"import urllib.request,urllib.error\ntry:\n r=urllib.request."
        "urlopen('http://127.0.0.1:" +
        std::to_string(*port) + path +
        "',timeout=5); print(r.status, r.read().decode(), end='')\nexcept urllib.error."
        "HTTPError as e: print(e.code, end='')\"";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[256];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
  };
  EXPECT_EQ(get("/healthz"), "200 ok\n");
  EXPECT_EQ(get("/healthz?verbose=1"), "200 ok\n");
  EXPECT_EQ(get("/nope"), "404");
  server.Stop();
}

TEST(HttpServerTest, ASlowClientIsCutOffAtTheRequestDeadline) {
  HttpServer server;
  server.set_request_deadline(absl::Milliseconds(500));
  server.Handle("/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // A byte every 100 ms, well inside the idle timeout, never finishing the headers: only the
  // whole-request deadline ends it. The bound is far above the deadline.
  const std::string request = "GET /healthz HTTP/1.1\r\nX-Slow: ";
  bool closed = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  for (size_t n = 0; !closed && absl::Now() < give_up; ++n) {
    (void)send(fd, request.data() + n % request.size(), 1, MSG_NOSIGNAL);
    absl::SleepFor(absl::Milliseconds(100));
    char buf[256];
    const ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    closed = got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  close(fd);
  EXPECT_TRUE(closed) << "the slow connection was still open after 20 s";
  server.Stop();
}

TEST(ResultFilesTest, NamesComeFromTheJobIdAndAttemptOnly) {
  EXPECT_EQ(ResultFileName("j0123", 2, "mp4"), "j0123-2.mp4");
  EXPECT_EQ(ResultFileName("j0123", 1, ContainerFormat(true, "jpeg")), "j0123-1.jpg");
  EXPECT_EQ(ContainerFormat(false, ""), "mp4");
  EXPECT_EQ(ContainerFormat(true, ""), "png");
  EXPECT_EQ(ContainerFormat(true, "webp"), "webp-image");
  EXPECT_EQ(ContainerFormat(false, "webp"), "webp");
  EXPECT_EQ(FormatMimeType("webp-image"), "image/webp");
  EXPECT_EQ(FormatMimeType("webm"), "video/webm");
}

}  // namespace
}  // namespace reel::service
