#include "pipeline/model/vae_decoder.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pipeline/model/json_fields.h"
#include "pipeline/model/video_ops.h"
#include "pipeline/tensor/device_memory.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// An array of numbers (JsonFields reads integer arrays only); errors go to `f`.
void ReadFloats(JsonFields& f, const nlohmann::json& v, const char* key, std::vector<float>& out) {
  if (v.is_null()) return;  // missing: reported by Required
  for (const auto& e : v.is_array() ? v : nlohmann::json::array({nullptr})) {
    if (!e.is_number()) {
      f.Error(absl::StrCat("'", key, "' must be an array of numbers"));
      out.clear();
      return;
    }
    out.push_back(e.get<float>());
  }
}

VaeDecoder::Conv TakeConv(WeightStore& s, const std::string& name, int64_t cin, int64_t cout,
                          int kt, int kk, int& num_caches) {
  VaeDecoder::Conv c;
  c.cin = cin;
  c.cout = cout;
  c.kt = kt;
  c.kk = kk;
  c.weight = s.TakeAs(name + ".weight", {cout, cin, kt, kk, kk}, {cout, cin * kt * kk * kk});
  c.bias = s.Take(name + ".bias", {cout});
  if (kt > 1) c.cache = num_caches++;
  return c;
}

VaeDecoder::ResBlock TakeResBlock(WeightStore& s, const std::string& name, int64_t ch,
                                  int& num_caches) {
  VaeDecoder::ResBlock r;
  r.norm1 = s.Take(name + ".norm1.gamma", {ch});
  r.conv1 = TakeConv(s, name + ".conv1", ch, ch, 3, 3, num_caches);
  r.norm2 = s.Take(name + ".norm2.gamma", {ch});
  r.conv2 = TakeConv(s, name + ".conv2", ch, ch, 3, 3, num_caches);
  return r;
}

// Causal conv of x (cin, T, H, W) with the conv's cache (if any) as the frames before x; then the
// cache becomes the last 2 frames of concat(cache, x).
absl::StatusOr<Tensor> RunConv(const VaeDecoder::Conv& c, const Tensor& x, VaeStream& stream) {
  return video::CausalConv(x, c.cache >= 0 ? &stream.caches[c.cache] : nullptr, c.weight, c.bias,
                           c.cout, c.kt, c.kk);
}

absl::Status RunResBlock(const VaeDecoder::ResBlock& r, float eps, Tensor& x, VaeStream& stream) {
  REEL_ASSIGN_OR_RETURN(Tensor h, video::ChannelRmsNormSilu(x, r.norm1, eps));
  REEL_ASSIGN_OR_RETURN(h, RunConv(r.conv1, h, stream));
  REEL_ASSIGN_OR_RETURN(h, video::ChannelRmsNormSilu(h, r.norm2, eps));
  REEL_ASSIGN_OR_RETURN(h, RunConv(r.conv2, h, stream));
  return ops::BinaryInPlace(ops::BinaryOp::kAdd, x, h);
}

// TimeUp: conv to 2C channels, then output frame 2t + j = channels j·C..j·C+C−1 of frame t.
absl::StatusOr<Tensor> RunTimeUp(const VaeDecoder::Conv& c, const Tensor& x, VaeStream& stream) {
  REEL_ASSIGN_OR_RETURN(Tensor y, RunConv(c, x, stream));
  return video::InterleaveTimeHalves(y);
}

// SpaceUp: nearest ×2 in H and W, then the (1, 3, 3) conv (no cache).
absl::StatusOr<Tensor> RunSpaceUp(const VaeDecoder::Conv& c, const Tensor& x, VaeStream& stream) {
  REEL_ASSIGN_OR_RETURN(Tensor up, video::NearestUp2(x));
  return RunConv(c, up, stream);
}

// `c` with its weight and bias where `placement` wants them (f32: conv weights are no projections).
absl::StatusOr<VaeDecoder::Conv> PlaceConv(const VaeDecoder::Conv& c, const Placement& placement) {
  VaeDecoder::Conv placed = c;
  REEL_ASSIGN_OR_RETURN(placed.weight, PlaceWeight(c.weight, placement, /*projection=*/false));
  REEL_ASSIGN_OR_RETURN(placed.bias, PlaceWeight(c.bias, placement, /*projection=*/false));
  return placed;
}

absl::StatusOr<VaeDecoder::ResBlock> PlaceResBlock(const VaeDecoder::ResBlock& r,
                                                   const Placement& placement) {
  VaeDecoder::ResBlock placed;
  REEL_ASSIGN_OR_RETURN(placed.norm1, PlaceWeight(r.norm1, placement, /*projection=*/false));
  REEL_ASSIGN_OR_RETURN(placed.norm2, PlaceWeight(r.norm2, placement, /*projection=*/false));
  REEL_ASSIGN_OR_RETURN(placed.conv1, PlaceConv(r.conv1, placement));
  REEL_ASSIGN_OR_RETURN(placed.conv2, PlaceConv(r.conv2, placement));
  return placed;
}

}  // namespace

absl::StatusOr<VaeConfig> ParseVaeConfig(const nlohmann::json& j) {
  VaeConfig c;
  JsonFields f(j, "config.json vae");
  std::string type;
  nlohmann::json mean, std_dev;
  f.Required("type", type);
  f.Required("latent_channels", c.latent_channels);
  f.Required("channels", c.channels);
  f.Optional("spatial_factor", c.spatial_factor);
  f.Optional("temporal_factor", c.temporal_factor);
  f.Optional("rms_eps", c.rms_eps);
  f.Required("latents_mean", mean);
  f.Required("latents_std", std_dev);
  ReadFloats(f, mean, "latents_mean", c.latents_mean);
  ReadFloats(f, std_dev, "latents_std", c.latents_std);
  if (j.is_object() && j.contains("type") && type != "reel-causal-vae") {
    f.Error(absl::StrCat("'type' is '", type, "'; this engine supports: reel-causal-vae"));
  }
  if (c.latent_channels <= 0) f.Error("'latent_channels' must be positive");
  if (c.channels.size() != 3 || *std::min_element(c.channels.begin(), c.channels.end()) <= 0) {
    f.Error("'channels' must be three positive widths [c0, c1, c2]");
  }
  // The decoder's layer list (VAE.md) fixes both factors; other values describe another
  // architecture.
  if (c.spatial_factor != 4) f.Error("'spatial_factor' must be 4 (two x2 up-sampling stages)");
  if (c.temporal_factor != 4)
    f.Error("'temporal_factor' must be 4 (two x2 time up-sampling stages)");
  if (!(c.rms_eps > 0.0f)) f.Error("'rms_eps' must be positive");
  const size_t z = static_cast<size_t>(std::max(c.latent_channels, 0));
  if (!mean.is_null() && c.latents_mean.size() != z) {
    f.Error(
        absl::StrCat("'latents_mean' has ", c.latents_mean.size(), " values for ", z, " channels"));
  }
  if (!std_dev.is_null() && c.latents_std.size() != z) {
    f.Error(
        absl::StrCat("'latents_std' has ", c.latents_std.size(), " values for ", z, " channels"));
  }
  for (float s : c.latents_std) {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      f.Error("'latents_std' values must be positive and finite");
      break;
    }
  }
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

absl::StatusOr<VaeDecoder> VaeDecoder::Load(const VaeConfig& config, WeightStore& s) {
  if (config.channels.size() != 3 ||
      static_cast<int>(config.latents_mean.size()) != config.latent_channels ||
      static_cast<int>(config.latents_std.size()) != config.latent_channels) {
    return absl::InvalidArgumentError("VaeDecoder::Load: config not from ParseVaeConfig");
  }
  VaeDecoder m;
  m.config_ = config;
  const int64_t z = config.latent_channels, c0 = config.channels[0], c1 = config.channels[1],
                c2 = config.channels[2];
  int& n = m.num_caches_;
  // In decoder order, so the cache indices follow the data flow (VAE.md "Streaming decode").
  m.conv_in_ = TakeConv(s, "decoder.conv_in", z, c2, 3, 3, n);
  m.res0_ = TakeResBlock(s, "decoder.res0", c2, n);
  m.res1_ = TakeResBlock(s, "decoder.res1", c2, n);
  m.tup0_ = TakeConv(s, "decoder.tup0.conv", c2, 2 * c2, 3, 1, n);
  m.up0_ = TakeConv(s, "decoder.up0.conv", c2, c1, 1, 3, n);
  m.res2_ = TakeResBlock(s, "decoder.res2", c1, n);
  m.tup1_ = TakeConv(s, "decoder.tup1.conv", c1, 2 * c1, 3, 1, n);
  m.up1_ = TakeConv(s, "decoder.up1.conv", c1, c0, 1, 3, n);
  m.res3_ = TakeResBlock(s, "decoder.res3", c0, n);
  m.norm_out_ = s.Take("decoder.norm_out.gamma", {c0});
  m.conv_out_ = TakeConv(s, "decoder.conv_out", c0, 3, 3, 3, n);
  s.Ignore("encoder.");
  REEL_RETURN_IF_ERROR(s.Finish());
  return m;
}

absl::StatusOr<VaeDecoder> VaeDecoder::Placed(const Placement& placement) const {
  REEL_RETURN_IF_ERROR(CheckDeviceUsable(placement.device));
  VaeDecoder m;
  m.config_ = config_;
  m.placement_ = placement;
  m.num_caches_ = num_caches_;
  for (auto [from, to] : {std::pair{&conv_in_, &m.conv_in_}, std::pair{&tup0_, &m.tup0_},
                          std::pair{&up0_, &m.up0_}, std::pair{&tup1_, &m.tup1_},
                          std::pair{&up1_, &m.up1_}, std::pair{&conv_out_, &m.conv_out_}}) {
    REEL_ASSIGN_OR_RETURN(*to, PlaceConv(*from, placement));
  }
  for (auto [from, to] : {std::pair{&res0_, &m.res0_}, std::pair{&res1_, &m.res1_},
                          std::pair{&res2_, &m.res2_}, std::pair{&res3_, &m.res3_}}) {
    REEL_ASSIGN_OR_RETURN(*to, PlaceResBlock(*from, placement));
  }
  REEL_ASSIGN_OR_RETURN(m.norm_out_, PlaceWeight(norm_out_, placement, /*projection=*/false));
  // Uploads are queued on the device's stream: wait, so a failure shows here, not in a decode.
  REEL_RETURN_IF_ERROR(Synchronize(placement.device));
  return m;
}

absl::StatusOr<VaeStream> VaeDecoder::NewStream(int64_t latent_height, int64_t latent_width) const {
  if (latent_height <= 0 || latent_width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("latent size ", latent_height, "x", latent_width, " must be positive"));
  }
  VaeStream s;
  s.latent_height = latent_height;
  s.latent_width = latent_width;
  // Input channels and resolution (x latent) of each cached conv, in cache-index order.
  const int64_t z = config_.latent_channels, c0 = config_.channels[0], c1 = config_.channels[1],
                c2 = config_.channels[2];
  const std::vector<std::pair<int64_t, int64_t>> specs = {
      {z, 1},  {c2, 1}, {c2, 1}, {c2, 1}, {c2, 1}, {c2, 1},  // conv_in, res0, res1, tup0
      {c1, 2}, {c1, 2}, {c1, 2},                             // res2, tup1
      {c0, 4}, {c0, 4}, {c0, 4}};                            // res3, conv_out
  if (static_cast<int>(specs.size()) != num_caches_)
    return absl::InternalError("VAE cache list mismatch");
  for (const auto& [ch, scale] : specs) {
    REEL_ASSIGN_OR_RETURN(Tensor cache,
                          Tensor::ZerosOn(device(), {ch, video::kCacheFrames, latent_height * scale,
                                                     latent_width * scale}));
    s.caches.push_back(std::move(cache));
  }
  return s;
}

int64_t VaeDecoder::cache_bytes(const VaeStream& stream) const {
  return video::TotalBytes(stream.caches);
}

absl::StatusOr<Tensor> VaeDecoder::DecodeUnclamped(VaeStream& stream, const Tensor& latents) const {
  if (static_cast<int>(stream.caches.size()) != num_caches_) {
    return absl::InvalidArgumentError("VAE stream was not made by this decoder's NewStream");
  }
  for (const Tensor& cache : stream.caches) {
    if (!(cache.device() == device())) {
      return absl::InvalidArgumentError(
          absl::StrCat("VAE stream keeps its caches on ", DeviceName(cache.device()),
                       " but the decoder runs on ", DeviceName(device()),
                       ": make the stream with this decoder's NewStream"));
    }
  }
  REEL_ASSIGN_OR_RETURN(
      Tensor x, video::Denormalize(latents, config_.latents_mean, config_.latents_std,
                                   stream.latent_height, stream.latent_width, "VAE", device()));
  const float eps = config_.rms_eps;
  REEL_ASSIGN_OR_RETURN(Tensor h, RunConv(conv_in_, x, stream));
  REEL_RETURN_IF_ERROR(RunResBlock(res0_, eps, h, stream));
  REEL_RETURN_IF_ERROR(RunResBlock(res1_, eps, h, stream));
  REEL_ASSIGN_OR_RETURN(h, RunTimeUp(tup0_, h, stream));
  REEL_ASSIGN_OR_RETURN(h, RunSpaceUp(up0_, h, stream));
  REEL_RETURN_IF_ERROR(RunResBlock(res2_, eps, h, stream));
  REEL_ASSIGN_OR_RETURN(h, RunTimeUp(tup1_, h, stream));
  REEL_ASSIGN_OR_RETURN(h, RunSpaceUp(up1_, h, stream));
  REEL_RETURN_IF_ERROR(RunResBlock(res3_, eps, h, stream));
  REEL_ASSIGN_OR_RETURN(h, video::ChannelRmsNormSilu(h, norm_out_, eps));
  REEL_ASSIGN_OR_RETURN(Tensor out, RunConv(conv_out_, h, stream));
  // The frames go to the encoder from the host: one copy per call (it waits for the device).
  REEL_ASSIGN_OR_RETURN(Tensor frames, ToDevice(out, Device::Cpu()));
  stream.frames_decoded += latents.dim(1);
  return frames;
}

absl::StatusOr<Tensor> VaeDecoder::Decode(VaeStream& stream, const Tensor& latents) const {
  REEL_ASSIGN_OR_RETURN(Tensor out, DecodeUnclamped(stream, latents));
  video::ClampInPlace(out, -1.0f, 1.0f);
  return out;
}

}  // namespace reel
