// Transitional (removed when issue-15-gemma and issue-15-wan are merged): the Gemma-2 encoder and
// the Wan VAE are not in this tree yet.
#include "pipeline/generate/sana_parts.h"

namespace reel {

absl::StatusOr<RendererParts> LoadSanaVideoParts(const std::string& dir) {
  return absl::UnimplementedError(dir + ": this build has no Gemma-2 encoder / Wan VAE yet");
}

}  // namespace reel
