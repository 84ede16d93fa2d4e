#pragma once
// `reel <command> [args]`: each command lives in its own *_command.cc and registers itself here.
#include <string_view>
#include <vector>

namespace reel::cli {

// Returns the process exit code. args excludes the program and command names.
using CommandFn = int (*)(const std::vector<std::string_view>& args);

struct Command {
  std::string_view name;
  std::string_view summary;  // one line for `reel help`
  CommandFn run;
};

// Called from a static initializer in each command file (see REEL_COMMAND).
bool RegisterCommand(const Command& command);
const std::vector<Command>& Commands();

}  // namespace reel::cli

#define REEL_COMMAND(name, summary, fn)                             \
  [[maybe_unused]] static const bool reel_command_registered_##fn = \
      ::reel::cli::RegisterCommand({name, summary, fn})
