#pragma once
// The page served at `/` (services/gateway/web/index.html, compiled in by CMake so that the binary
// needs no files beside it and the page works offline: plain HTML/JS, no build step, no CDN).
#include "absl/strings/string_view.h"

namespace reel::gateway {

absl::string_view WebPage();

}  // namespace reel::gateway
