#pragma once
// One line to stderr, prefixed with the UTC time and the program's name: what operators read in
// `kubectl logs` or the journal. The services log only what needs a person (storage failures,
// leases taken back, refused configuration), never per-request traffic.
#include "absl/strings/string_view.h"

namespace reel::service {

void LogLine(absl::string_view component, absl::string_view message);

}  // namespace reel::service
