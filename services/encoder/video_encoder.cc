#include "services/encoder/video_encoder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "pipeline/tensor/status_macros.h"
#include "services/encoder/av_handles.h"
#include "services/encoder/gif_palette.h"

extern "C" {
#include <libavutil/log.h>
}

namespace reel {
namespace {

constexpr int kIoBufferBytes = 64 * 1024;
constexpr int kDefaultX264Crf =
    23;  // x264's own default: visually near-transparent for most content
constexpr int kDefaultVp9Crf = 32;  // libvpx's recommended range is 15-35 (lower = better)
constexpr int kDefaultWebpQuality = 80;

// An AVDictionary that frees itself (av_dict_set needs the address of the raw pointer).
class Dictionary {
 public:
  Dictionary() = default;
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;
  ~Dictionary() { av_dict_free(&dict_); }
  void Set(const std::string& key, const std::string& value) {
    av_dict_set(&dict_, key.c_str(), value.c_str(), 0);
  }
  AVDictionary** get() { return &dict_; }

 private:
  AVDictionary* dict_ = nullptr;
};

// A file written append-only through FFmpeg's custom I/O (a progressive file is never seeked
// back, so that bytes a reader already took stay valid). Closes itself.
class AppendOnlyFile {
 public:
  AppendOnlyFile() = default;
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;
  ~AppendOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open '", path, "' for writing: ", std::strerror(errno)));
    }
    path_ = path;
    return absl::OkStatus();
  }
  absl::Status Append(const uint8_t* data, size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        const std::string message =
            absl::StrCat("cannot write '", path_, "': ", std::strerror(err));
        return err == ENOSPC ? absl::ResourceExhaustedError(message) : absl::InternalError(message);
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }
  absl::Status Close() {
    const int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0) {
      return absl::InternalError(
          absl::StrCat("cannot close '", path_, "': ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
  std::string path_;
};

class VideoEncoder final : public MediaEncoder {
 public:
  VideoEncoder(const VideoSpec& spec, const MediaFormat& format, std::string path, ByteSink sink)
      : MediaEncoder(spec), format_(format), path_(std::move(path)), sink_(std::move(sink)) {}

  ~VideoEncoder() override {
    // Abandoned before Finish(). FFmpeg 5.1's GIF muxer holds the last packet until
    // write_trailer and has no deinit, so only the trailer frees it (LeakSanitizer found this);
    // its bytes are dropped. Other muxers free everything in avformat_free_context.
    if (header_written_ && !trailer_written_ && is_gif_) {
      discard_output_ = true;
      av_write_trailer(mux_.get());
    }
    // Close the file without a trailer; its owner deletes it.
    if (file_open_) avio_closep(&mux_->pb);
  }

  absl::Status Init(const EncoderOptions& options) {
    const VideoSpec& s = spec();
    is_gif_ = format_.name == "gif";
    const bool fragmentable = format_.name == "mp4" || format_.name == "webm";
    progressive_ = options.progressive && fragmentable;
    low_delay_ = (options.low_delay || options.progressive) && fragmentable;
    if (progressive_ && !path_.empty()) {
      // The file gets the stream path's custom I/O, so that FFmpeg cannot seek back into it.
      REEL_RETURN_IF_ERROR(file_.Open(path_));
      sink_ = [this](const uint8_t* data, size_t size) { return file_.Append(data, size); };
    }
    // libx264 rejects odd sides in 4:2:0; pad by one replicated row/column instead of failing.
    // VP9 codes odd sizes natively; GIF and WebP (from BGRA) have no chroma subsampling here.
    const bool pad_to_even = format_.name == "mp4";
    coded_width_ = pad_to_even ? (s.width + 1) / 2 * 2 : s.width;
    coded_height_ = pad_to_even ? (s.height + 1) / 2 * 2 : s.height;
    pix_fmt_ = is_gif_                  ? AV_PIX_FMT_PAL8
               : format_.name == "webp" ? AV_PIX_FMT_BGRA
                                        : AV_PIX_FMT_YUV420P;
    frame_rate_ = av_d2q(s.fps, 1 << 20);
    // GIF delays are centiseconds; every other format counts whole frames.
    time_base_ = is_gif_ ? AVRational{1, 100} : av_inv_q(frame_rate_);

    REEL_RETURN_IF_ERROR(AllocMuxer());
    REEL_RETURN_IF_ERROR(OpenCodec(options));
    REEL_RETURN_IF_ERROR(OpenMuxer());
    frame_.reset(av_frame_alloc());
    packet_.reset(av_packet_alloc());
    if (!frame_ || !packet_)
      return absl::ResourceExhaustedError("out of memory allocating a frame");
    frame_->format = pix_fmt_;
    frame_->width = coded_width_;
    frame_->height = coded_height_;
    if (const int err = av_frame_get_buffer(frame_.get(), 0); err < 0) {
      return AvError("allocating a frame buffer", err);
    }
    if (!is_gif_) {
      sws_.reset(sws_getContext(
          coded_width_, coded_height_, AV_PIX_FMT_RGB24, coded_width_, coded_height_, pix_fmt_,
          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr));
      if (!sws_) return absl::InternalError("swscale cannot convert rgb24 to the codec's format");
      if (pix_fmt_ == AV_PIX_FMT_YUV420P) {
        // BT.709 limited range, matching the colour tags set on the codec in OpenCodec().
        sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
      }
    }
    return absl::OkStatus();
  }

 protected:
  absl::Status EncodeFrames(const uint8_t* rgb, int64_t count) override {
    const int64_t frame_bytes = RgbBytes(spec(), 1);
    for (int64_t i = 0; i < count; ++i) {
      if (const int err = av_frame_make_writable(frame_.get()); err < 0) {
        return AvError("making the frame writable", err);
      }
      ConvertFrame(rgb + i * frame_bytes);
      frame_->pts = PtsOf(next_index_++);
      REEL_RETURN_IF_ERROR(SendFrame(frame_.get()));
    }
    if (progressive_) {
      // Close the fragment (MP4, frag_custom) or cluster (WebM) at the block boundary and hand
      // its bytes over, so that what was written so far plays up to this block's last frame.
      if (const int err = av_interleaved_write_frame(mux_.get(), nullptr); err < 0) {
        return AvError("flushing the interleaving queue", err);
      }
      if (const int err = av_write_frame(mux_.get(), nullptr); err < 0) {
        return AvError("closing a fragment", err);
      }
      avio_flush(io_.get());
      REEL_RETURN_IF_ERROR(sink_status_);
      if (io_->error < 0) return AvError("flushing the stream", io_->error);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<EncodeSummary> FinishEncoding() override {
    REEL_RETURN_IF_ERROR(SendFrame(nullptr));
    trailer_written_ = true;
    if (const int err = av_write_trailer(mux_.get()); err < 0) {
      return AvError("writing the container trailer", err);
    }
    EncodeSummary summary;
    if (file_open_) {
      file_open_ = false;
      if (const int err = avio_closep(&mux_->pb); err < 0) return AvError("closing the file", err);
      std::error_code ec;
      summary.bytes = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
      if (ec) return absl::InternalError(absl::StrCat("cannot stat '", path_, "': ", ec.message()));
    } else {
      avio_flush(io_.get());
      REEL_RETURN_IF_ERROR(sink_status_);
      if (io_->error < 0) return AvError("flushing the stream", io_->error);
      summary.bytes = bytes_streamed_;
      if (progressive_) REEL_RETURN_IF_ERROR(file_.Close());
    }
    summary.frames = next_index_;
    summary.mime_type = std::string(format_.mime_type);
    summary.coded_width = coded_width_;
    summary.coded_height = coded_height_;
    return summary;
  }

 private:
  static int WritePacket(void* opaque, uint8_t* buf, int size) {
    auto* self = static_cast<VideoEncoder*>(opaque);
    if (self->discard_output_) return size;
    if (!self->sink_status_.ok()) return AVERROR(EPIPE);
    self->sink_status_ = self->sink_(buf, static_cast<size_t>(size));
    if (!self->sink_status_.ok()) return AVERROR(EPIPE);
    self->bytes_streamed_ += size;
    return size;
  }

  // A failed byte sink (client gone, disk full) explains an FFmpeg error better than the errno.
  absl::Status AvError(absl::string_view what, int err) const {
    if (!sink_status_.ok()) return sink_status_;
    return absl::InternalError(
        absl::StrCat(format_.name, " encoder: ", what, ": ", av::ErrorString(err)));
  }

  absl::Status AllocMuxer() {
    AVFormatContext* raw = nullptr;
    const std::string muxer(format_.muxer);
    const int err = avformat_alloc_output_context2(&raw, nullptr, muxer.c_str(),
                                                   path_.empty() ? nullptr : path_.c_str());
    mux_.reset(raw);
    if (err < 0 || !mux_) return AvError(absl::StrCat("creating the '", muxer, "' muxer"), err);
    return absl::OkStatus();
  }

  absl::Status OpenCodec(const EncoderOptions& options) {
    const std::string codec_name(format_.codec);
    const AVCodec* codec = avcodec_find_encoder_by_name(codec_name.c_str());
    if (codec == nullptr) {
      return absl::UnimplementedError(absl::StrCat("this FFmpeg build has no '", codec_name,
                                                   "' encoder, needed for format '", format_.name,
                                                   "' (see `ffmpeg -encoders`)"));
    }
    codec_.reset(avcodec_alloc_context3(codec));
    if (!codec_) return absl::ResourceExhaustedError("out of memory allocating a codec context");
    AVCodecContext* c = codec_.get();
    const VideoSpec& s = spec();
    c->width = coded_width_;
    c->height = coded_height_;
    c->pix_fmt = pix_fmt_;
    c->time_base = time_base_;
    c->framerate = frame_rate_;
    c->sample_aspect_ratio = AVRational{1, 1};
    c->thread_count = options.threads;
    if (mux_->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (pix_fmt_ == AV_PIX_FMT_YUV420P) {
      c->colorspace = AVCOL_SPC_BT709;
      c->color_primaries = AVCOL_PRI_BT709;
      c->color_trc = AVCOL_TRC_BT709;
      c->color_range = AVCOL_RANGE_MPEG;
      // A keyframe every 2 s: seekable, and a fragmented MP4 stream gets a fragment that often.
      c->gop_size = std::max(1, static_cast<int>(std::lround(2 * s.fps)));
    }
    Dictionary opts;
    if (format_.name == "mp4") {
      opts.Set("preset", s.preset.empty() ? "medium" : s.preset);
      // No B-frames, lookahead or frame threads: a frame's packet leaves the codec with it.
      if (low_delay_) opts.Set("tune", "zerolatency");
      if (options.bitrate_bps > 0) {
        c->bit_rate = options.bitrate_bps;
      } else {
        opts.Set("crf", std::to_string(s.crf >= 0 ? s.crf : kDefaultX264Crf));
      }
      // x264's MB-tree (per-macroblock QP offsets from the lookahead) reads memory it has not
      // written: the same frames came out as different files depending on what had run on the
      // encoding thread before (tests/encoder: Mp4BytesDependOnlyOnTheFrames, 96×64 and 480×272;
      // reel-tiny renders gave four files from one YUV in four runs). Without it a file is a
      // function of its frames, so a sharded render writes the same bytes as one process, at the
      // cost of about 3% bitrate (measured: a 256×256 reel-tiny clip at equal size, 0.14 dB).
      opts.Set("x264-params", "mbtree=0");
    } else if (format_.name == "webm") {
      const std::string deadline = s.preset.empty() ? "good" : s.preset;
      opts.Set("deadline", deadline);
      opts.Set("cpu-used", deadline == "realtime" ? "8" : deadline == "best" ? "0" : "4");
      opts.Set("row-mt", "1");
      // crf with bit_rate 0 is libvpx's constant-quality mode; with a bitrate it caps quality.
      c->bit_rate = options.bitrate_bps;
      if (options.bitrate_bps <= 0 || s.crf >= 0) {
        opts.Set("crf", std::to_string(s.crf >= 0 ? s.crf : kDefaultVp9Crf));
      }
      if (low_delay_) {
        opts.Set("lag-in-frames", "0");  // no frame waits for later ones...
        opts.Set("auto-alt-ref", "0");   // ...which an alt-ref frame would need
      }
    } else if (format_.name == "webp") {
      opts.Set("quality", std::to_string(s.crf >= 0 ? 100 - s.crf : kDefaultWebpQuality));
    }
    if (const int err = avcodec_open2(c, codec, opts.get()); err < 0) {
      return AvError(absl::StrCat("opening ", codec_name, " for ", coded_width_, "x", coded_height_,
                                  " at ", s.fps, " fps"),
                     err);
    }
    return absl::OkStatus();
  }

  absl::Status OpenMuxer() {
    stream_ = avformat_new_stream(mux_.get(), nullptr);
    if (stream_ == nullptr) return absl::ResourceExhaustedError("out of memory adding a stream");
    if (const int err = avcodec_parameters_from_context(stream_->codecpar, codec_.get()); err < 0) {
      return AvError("copying codec parameters", err);
    }
    stream_->time_base = time_base_;
    stream_->avg_frame_rate = frame_rate_;
    for (const auto& [key, value] : spec().metadata) {
      av_dict_set(&mux_->metadata, key.c_str(), value.c_str(), 0);
    }
    if (!path_.empty() && !progressive_) {
      if (const int err = avio_open(&mux_->pb, path_.c_str(), AVIO_FLAG_WRITE); err < 0) {
        return absl::PermissionDeniedError(
            absl::StrCat("cannot open '", path_, "' for writing: ", av::ErrorString(err)));
      }
      file_open_ = true;
    } else {
      auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferBytes));
      if (buffer == nullptr) return absl::ResourceExhaustedError("out of memory (io buffer)");
      io_.reset(
          avio_alloc_context(buffer, kIoBufferBytes, 1, this, nullptr, &WritePacket, nullptr));
      if (!io_) {
        av_free(buffer);
        return absl::ResourceExhaustedError("out of memory (io context)");
      }
      io_->seekable = 0;
      mux_->pb = io_.get();
      mux_->flags |= AVFMT_FLAG_CUSTOM_IO;
      // A stream's reader wants each fragment as soon as it is muxed, not when 64 KiB piled up.
      mux_->flush_packets = 1;
    }
    Dictionary mux_opts;
    if (format_.name == "mp4") {
      // use_metadata_tags keeps arbitrary keys (prompt, seed, model), not only the iTunes set.
      // Progressive: fragments end where EncodeFrames flushes (a block), not at keyframes.
      mux_opts.Set("movflags",
                   progressive_    ? "+frag_custom+empty_moov+default_base_moof+use_metadata_tags"
                   : path_.empty() ? "+frag_keyframe+empty_moov+default_base_moof+use_metadata_tags"
                                   : "+faststart+use_metadata_tags");
    } else if (format_.name == "webp" || format_.name == "gif") {
      mux_opts.Set("loop", "0");  // loop forever, as viewers expect of an animation
    }
    if (const int err = avformat_write_header(mux_.get(), mux_opts.get()); err < 0) {
      return AvError("writing the container header", err);
    }
    header_written_ = true;
    if (io_) {
      avio_flush(io_.get());
      if (!sink_status_.ok()) return sink_status_;
    }
    return absl::OkStatus();
  }

  void ConvertFrame(const uint8_t* rgb) {
    const int w = spec().width;
    const int h = spec().height;
    if (is_gif_) {
      quantizer_.Quantize(rgb, w, h, frame_->data[0], frame_->linesize[0],
                          reinterpret_cast<uint32_t*>(frame_->data[1]));
      return;
    }
    const uint8_t* src = rgb;
    if (coded_width_ != w || coded_height_ != h) {
      // Replicate the last column and row into the padding so the codec sees no hard edge.
      padded_rgb_.resize(static_cast<size_t>(coded_width_) * coded_height_ * 3);
      for (int y = 0; y < coded_height_; ++y) {
        const uint8_t* in = rgb + static_cast<int64_t>(std::min(y, h - 1)) * w * 3;
        uint8_t* out = padded_rgb_.data() + static_cast<int64_t>(y) * coded_width_ * 3;
        std::memcpy(out, in, static_cast<size_t>(w) * 3);
        for (ptrdiff_t x = w; x < coded_width_; ++x) {
          std::memcpy(out + 3 * x, in + 3 * static_cast<ptrdiff_t>(w - 1), 3);
        }
      }
      src = padded_rgb_.data();
    }
    const int src_stride = coded_width_ * 3;
    sws_scale(sws_.get(), &src, &src_stride, 0, coded_height_, frame_->data, frame_->linesize);
  }

  int64_t PtsOf(int64_t index) const {
    return is_gif_ ? std::llround(static_cast<double>(index) * 100.0 / spec().fps) : index;
  }

  // Constant frame rate: a packet lasts until the next frame's timestamp.
  int64_t DurationOf(int64_t pts) const {
    if (!is_gif_) return 1;
    const int64_t index = std::llround(static_cast<double>(pts) * spec().fps / 100.0);
    return std::max<int64_t>(1, PtsOf(index + 1) - PtsOf(index));
  }

  // Sends one frame (nullptr: flush) and writes every packet the codec has ready.
  absl::Status SendFrame(AVFrame* frame) {
    if (const int err = avcodec_send_frame(codec_.get(), frame); err < 0) {
      return AvError("sending a frame to the codec", err);
    }
    while (true) {
      const int err = avcodec_receive_packet(codec_.get(), packet_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
      if (err < 0) return AvError("encoding a frame", err);
      if (packet_->duration <= 0) packet_->duration = DurationOf(packet_->pts);
      av_packet_rescale_ts(packet_.get(), codec_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      if (const int werr = av_interleaved_write_frame(mux_.get(), packet_.get()); werr < 0) {
        return AvError("writing a packet", werr);
      }
    }
  }

  const MediaFormat& format_;
  const std::string path_;
  AppendOnlyFile file_;  // progressive_ with a path: where sink_ writes
  ByteSink sink_;
  bool progressive_ = false;
  bool low_delay_ = false;
  absl::Status sink_status_;
  int64_t bytes_streamed_ = 0;
  bool is_gif_ = false;
  bool header_written_ = false;
  bool trailer_written_ = false;
  bool discard_output_ = false;  // abandoning: bytes go nowhere
  int coded_width_ = 0;
  int coded_height_ = 0;
  AVPixelFormat pix_fmt_ = AV_PIX_FMT_NONE;
  AVRational frame_rate_{0, 1};
  AVRational time_base_{0, 1};
  // Declaration order is destruction order in reverse: the muxer goes before the io context it
  // writes through.
  av::CustomIoPtr io_;
  av::OutputFormatPtr mux_;
  bool file_open_ = false;
  AVStream* stream_ = nullptr;  // owned by mux_
  av::CodecContextPtr codec_;
  av::FramePtr frame_;
  av::PacketPtr packet_;
  av::SwsPtr sws_;
  std::vector<uint8_t> padded_rgb_;
  MedianCutQuantizer quantizer_;
  int64_t next_index_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MediaEncoder>> NewVideoEncoder(const VideoSpec& spec,
                                                              const std::string& path,
                                                              ByteSink sink,
                                                              const EncoderOptions& options) {
  const MediaFormat* format = FindMediaFormat(spec.format);
  if (format == nullptr || format->single_image) {
    return absl::InvalidArgumentError(absl::StrCat("'", spec.format, "' is not a video format"));
  }
  // FFmpeg logs to stderr at "info" by default (x264's statistics for every file); reel reports
  // through statuses, so only FFmpeg's errors stay visible. The level is FFmpeg's process-wide
  // setting; a program that wants more can raise it after this.
  static std::once_flag quiet_logs;
  std::call_once(quiet_logs, [] { av_log_set_level(AV_LOG_ERROR); });
  auto encoder = std::make_unique<VideoEncoder>(spec, *format, path, std::move(sink));
  REEL_RETURN_IF_ERROR(encoder->Init(options));
  return encoder;
}

}  // namespace reel
