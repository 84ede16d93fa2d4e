#pragma once
// Owning handles for FFmpeg objects: every AV* allocation in the encoder lives in one of these, so
// no error branch has to remember a free call.
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>
}

namespace reel::av {

struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
// A custom AVIOContext owns its buffer through av_malloc; the buffer may have been reallocated by
// FFmpeg, so it is freed through the context, not through the pointer handed to avio_alloc_context.
struct CustomIoDeleter {
  void operator()(AVIOContext* io) const {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
// An output format context; its pb (if opened with avio_open) is closed by the owner (see
// VideoEncoder), because closing it is part of finishing the file, not of freeing memory.
struct OutputFormatDeleter {
  void operator()(AVFormatContext* f) const { avformat_free_context(f); }
};

using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using CustomIoPtr = std::unique_ptr<AVIOContext, CustomIoDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;

// "Invalid argument (AVERROR -22)" for an FFmpeg error code.
inline std::string ErrorString(int averror) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(averror, buf, sizeof(buf));
  return std::string(buf) + " (AVERROR " + std::to_string(averror) + ")";
}

}  // namespace reel::av
