#pragma once
// FrameSinks that write a file. The container comes from VideoSpec.format at Open(). Bytes go to a
// temporary file next to the destination (same directory, so the final rename is atomic); Close()
// renames it into place, and Abort(), a failed Write()/Close() or destroying an unclosed sink
// delete it, so a cancelled or failed render never leaves a half-written file behind.
#include <memory>
#include <string>

#include "pipeline/frames/frame_sink.h"
#include "services/encoder/media_encoder.h"

namespace reel {

// Any format: mp4, webm, gif, webp (via libavcodec) or png, jpeg, webp-image (one frame). With
// options.progressive the temporary file is ProgressivePartialPath(path) (temp_file.h), a name
// readers can find, and each Write() leaves it a playable prefix of the result.
std::unique_ptr<FrameSink> NewFileEncoderSink(std::string path, EncoderOptions options = {});

// Only the single-image formats (png, jpeg, webp-image); Open() rejects a video format or a spec
// announcing more than one frame.
std::unique_ptr<FrameSink> NewImageFileSink(std::string path);

}  // namespace reel
