#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <string_view>
#include <vector>

#include "tools/reel/command.h"

namespace reel::cli {
namespace {

std::vector<Command>& Registry() {
  static std::vector<Command> commands;  // filled during static initialization only
  return commands;
}

void PrintUsage() {
  std::printf("usage: reel <command> [options]\n\ncommands:\n");
  std::vector<Command> sorted = Registry();
  std::sort(sorted.begin(), sorted.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  for (const Command& c : sorted) {
    std::printf("  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::printf("\n`reel <command> --help` describes a command's options.\n");
}

}  // namespace

bool RegisterCommand(const Command& command) {
  Registry().push_back(command);
  return true;
}

const std::vector<Command>& Commands() { return Registry(); }

}  // namespace reel::cli

int main(int argc, char** argv) {
  using reel::cli::Command;
  // OpenMP workers that spin-wait at every barrier starve each other whenever the cores are shared (a
  // laptop, a pod next to others, ctest -j2): a 64-token DiT forward took 960 ms instead of 10 ms here.
  // libgomp reads its wait policy when it is loaded, before main, so set it and start again.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
  }
  if (argc < 2 || std::string_view(argv[1]) == "help" || std::string_view(argv[1]) == "--help" ||
      std::string_view(argv[1]) == "-h") {
    reel::cli::PrintUsage();
    return argc < 2 ? 2 : 0;
  }
  const std::string_view name = argv[1];
  for (const Command& c : reel::cli::Commands()) {
    if (c.name == name) {
      std::vector<std::string_view> args(argv + 2, argv + argc);
      return c.run(args);
    }
  }
  std::fprintf(stderr, "reel: unknown command '%s' (try `reel help`)\n", argv[1]);
  return 2;
}
