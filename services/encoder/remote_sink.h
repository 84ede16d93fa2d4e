#pragma once
// A FrameSink that streams frames to a remote EncoderService (proto/reel/v1/encoder.proto) and
// writes the container bytes it gets back to a file, with the same promise as the file sink: the
// destination appears only after a successful Close(); errors and Abort() leave nothing behind.
#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>

#include "pipeline/frames/frame_sink.h"
#include "services/encoder/media_encoder.h"

namespace reel {

struct RemoteSinkOptions {
  // Frames per request are limited so a message stays under this (gRPC's default receive limit is
  // 4 MiB); a single frame larger than this still goes as one message.
  int64_t max_message_bytes = 4 << 20;
  // bitrate; progressive (the partial file is then ProgressivePartialPath(path) and grows by whole
  // blocks); codec threads are the server's business
  EncoderOptions encoder;
};

std::unique_ptr<FrameSink> NewRemoteEncoderSink(std::shared_ptr<grpc::Channel> channel,
                                                std::string path, RemoteSinkOptions options = {});

}  // namespace reel
