#pragma once
// Clean shutdown on SIGINT/SIGTERM for the long-running commands: the signals are blocked in every
// thread (call BlockTerminationSignals() first thing, before any thread starts) and one thread
// waits for them.
namespace reel::service {

void BlockTerminationSignals();
// Blocks until SIGINT or SIGTERM arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace reel::service
