// reel-encoder: the EncoderService as its own process (split deployment). Stops cleanly on SIGINT
// or SIGTERM: calls in progress get 5 s to finish.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "services/encoder/encoder_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50053", "host:port to serve on (port 0: any free port)");
ABSL_FLAG(int, max_streams, 4, "concurrent Encode calls; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_message_mb, 64, "largest request message (one block of RGB frames), MiB");
ABSL_FLAG(int, codec_threads, 0, "threads per encode; 0: the codec decides");

namespace {
// Written by the signal handler (async-signal-safe write to a pipe), read by the stopper thread.
int g_stop_pipe[2] = {-1, -1};
}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("reel-encoder --listen=0.0.0.0:50053 --max_streams=4");
  absl::ParseCommandLine(argc, argv);

  reel::EncoderServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.max_message_bytes = static_cast<int64_t>(absl::GetFlag(FLAGS_max_message_mb)) << 20;
  options.service.max_streams = absl::GetFlag(FLAGS_max_streams);
  options.service.codec_threads = absl::GetFlag(FLAGS_codec_threads);
  auto server = reel::StartEncoderServer(options);
  if (!server.ok()) {
    std::fprintf(stderr, "reel-encoder: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("reel-encoder listening on port %d (max %d streams)\n", (*server)->port,
              options.service.max_streams);
  std::fflush(stdout);

  // gRPC's threads may exist before main() (its static initializers), so signals are not blocked
  // and sigwait()ed; the handler only writes a byte to a pipe, which a plain thread waits on.
  if (pipe(g_stop_pipe) != 0) {
    std::perror("reel-encoder: pipe");
    return 1;
  }
  struct sigaction action = {};
  action.sa_handler = [](int) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &byte, 1);
  };
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::thread stopper([&server] {
    char byte = 0;
    [[maybe_unused]] const ssize_t n = read(g_stop_pipe[0], &byte, 1);
    std::fprintf(stderr, "reel-encoder: stopping\n");
    (*server)->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  });
  (*server)->server->Wait();
  stopper.join();
  return 0;
}
