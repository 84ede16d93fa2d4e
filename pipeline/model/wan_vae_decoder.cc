#include "pipeline/model/wan_vae_decoder.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "pipeline/model/video_ops.h"
#include "pipeline/model/wan_vae_layers.h"
#include "pipeline/tensor/ops.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

using Conv = WanVaeDecoder::Conv;
using ResBlock = WanVaeDecoder::ResBlock;

// Builds the decoder's layers from a WeightStore in data-flow order, handing out cache indices and
// recording each cached conv's input (channels, resolution) for NewStream.
struct Loader {
  WeightStore& s;
  std::vector<std::pair<int64_t, int64_t>> caches;  // (channels, scale)
  int64_t scale = 1;  // current resolution in multiples of the latent's

  // A WanCausalConv3d with kernel (kt, kk, kk), stored (cout, cin, kt, kk, kk).
  Conv Conv3d(const std::string& name, int64_t cin, int64_t cout, int kt, int kk) {
    return Make(name, {cout, cin, kt, kk, kk}, cin, cout, kt, kk);
  }
  // A per-frame nn.Conv2d with kernel kk, stored (cout, cin, kk, kk).
  Conv Conv2d(const std::string& name, int64_t cin, int64_t cout, int kk) {
    return Make(name, {cout, cin, kk, kk}, cin, cout, 1, kk);
  }
  Conv Make(const std::string& name, const Shape& stored, int64_t cin, int64_t cout, int kt,
            int kk) {
    Conv c;
    c.cin = cin;
    c.cout = cout;
    c.kt = kt;
    c.kk = kk;
    c.weight = s.TakeAs(name + ".weight", stored, {cout, cin * kt * kk * kk});
    c.bias = s.Take(name + ".bias", {cout});
    if (kt > 1) {
      c.cache = static_cast<int>(caches.size());
      caches.emplace_back(cin, scale);
    }
    return c;
  }
  // A WanRMS_norm gamma, stored (ch, 1, 1, 1) (video) or (ch, 1, 1) (the attention's per image).
  Tensor Gamma(const std::string& name, int64_t ch, bool images = false) {
    return s.TakeAs(name + ".gamma", images ? Shape{ch, 1, 1} : Shape{ch, 1, 1, 1}, {ch});
  }
  ResBlock Res(const std::string& name, int64_t cin, int64_t cout) {
    ResBlock r;
    r.norm1 = Gamma(name + ".norm1", cin);
    r.conv1 = Conv3d(name + ".conv1", cin, cout, 3, 3);
    r.norm2 = Gamma(name + ".norm2", cout);
    r.conv2 = Conv3d(name + ".conv2", cout, cout, 3, 3);
    if (cin != cout) r.shortcut = Conv3d(name + ".conv_shortcut", cin, cout, 1, 1);
    return r;
  }
};

absl::StatusOr<Tensor> Run(const Conv& c, const Tensor& x, WanVaeStream& stream) {
  return video::CausalConv(x, c.cache >= 0 ? &stream.caches[c.cache] : nullptr, c.weight, c.bias,
                           c.cout, c.kt, c.kk);
}

// WanResidualBlock: shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))) (dropout: identity).
absl::StatusOr<Tensor> RunRes(const ResBlock& r, const Tensor& x, WanVaeStream& stream) {
  REEL_ASSIGN_OR_RETURN(Tensor h, wan_vae::ChannelNorm(x, r.norm1, /*silu=*/true));
  REEL_ASSIGN_OR_RETURN(h, Run(r.conv1, h, stream));
  REEL_ASSIGN_OR_RETURN(h, wan_vae::ChannelNorm(h, r.norm2, /*silu=*/true));
  REEL_ASSIGN_OR_RETURN(h, Run(r.conv2, h, stream));
  if (r.shortcut.cout > 0) {
    REEL_ASSIGN_OR_RETURN(Tensor skip, Run(r.shortcut, x, stream));
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, h, skip));
  } else {
    REEL_RETURN_IF_ERROR(ops::BinaryInPlace(ops::BinaryOp::kAdd, h, x));
  }
  return h;
}

// Frames [begin, end) of x (C, T, H, W) as a new tensor.
absl::StatusOr<Tensor> Frames(const Tensor& x, int64_t begin, int64_t end) {
  REEL_ASSIGN_OR_RETURN(Tensor view, x.Slice(1, begin, end));
  return view.Contiguous();
}

// concat(a, b) along time: a (C, Ta, H, W), b (C, Tb, H, W).
absl::StatusOr<Tensor> ConcatFrames(const Tensor& a, const Tensor& b) {
  const int64_t ch = a.dim(0), ta = a.dim(1), tb = b.dim(1), hw = a.dim(2) * a.dim(3);
  REEL_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({ch, ta + tb, a.dim(2), a.dim(3)}));
  for (int64_t c = 0; c < ch; ++c) {
    float* dst = out.data<float>() + c * (ta + tb) * hw;
    std::memcpy(dst, a.data<float>() + c * ta * hw, sizeof(float) * ta * hw);
    std::memcpy(dst + ta * hw, b.data<float>() + c * tb * hw, sizeof(float) * tb * hw);
  }
  return out;
}

// upsample3d's time step: every frame becomes 2 (time_conv to 2C channels, halves interleaved),
// except a video's very first frame, which passes unchanged and is never seen by time_conv: this
// is diffusers' "Rep" cache sentinel (first call: no time conv; second: zero history; then the
// cache), written for chunks of any length.
absl::StatusOr<Tensor> TimeUp(const Conv& time_conv, const Tensor& x, bool starts_video,
                              WanVaeStream& stream) {
  const int64_t t = x.dim(1);
  if (!starts_video) {
    REEL_ASSIGN_OR_RETURN(Tensor y, Run(time_conv, x, stream));
    return video::InterleaveTimeHalves(y);
  }
  if (t == 1) return x;
  REEL_ASSIGN_OR_RETURN(Tensor first, Frames(x, 0, 1));
  REEL_ASSIGN_OR_RETURN(Tensor rest, Frames(x, 1, t));
  REEL_ASSIGN_OR_RETURN(Tensor y, Run(time_conv, rest, stream));
  REEL_ASSIGN_OR_RETURN(Tensor doubled, video::InterleaveTimeHalves(y));
  return ConcatFrames(first, doubled);
}

}  // namespace

absl::StatusOr<WanVaeDecoder> WanVaeDecoder::Load(const WanVaeConfig& config, WeightStore& s) {
  const size_t stages = config.dim_mult.size();
  if (stages == 0 || stages > 8 || config.temperal_downsample.size() + 1 != stages ||
      static_cast<int>(config.latents_mean.size()) != config.z_dim ||
      static_cast<int>(config.latents_std.size()) != config.z_dim || config.decoder_base_dim <= 0) {
    return absl::InvalidArgumentError("WanVaeDecoder::Load: config not from ParseWanVaeConfig");
  }
  WanVaeDecoder m;
  m.config_ = config;
  Loader l{s};
  const int64_t z = config.z_dim, dim = config.decoder_base_dim;
  // dims = dim · [mult[-1], mult[-1], ..., mult[0]] (diffusers WanDecoder3d).
  std::vector<int64_t> dims = {dim * config.dim_mult.back()};
  for (size_t i = stages; i-- > 0;) dims.push_back(dim * config.dim_mult[i]);

  m.post_quant_ = l.Conv3d("post_quant_conv", z, z, 1, 1);
  m.conv_in_ = l.Conv3d("decoder.conv_in", z, dims[0], 3, 3);
  m.mid_res0_ = l.Res("decoder.mid_block.resnets.0", dims[0], dims[0]);
  const std::string attn = "decoder.mid_block.attentions.0";
  m.mid_attn_.norm = l.Gamma(attn + ".norm", dims[0], /*images=*/true);
  m.mid_attn_.qkv = l.Conv2d(attn + ".to_qkv", dims[0], 3 * dims[0], 1);
  m.mid_attn_.proj = l.Conv2d(attn + ".proj", dims[0], dims[0], 1);
  m.mid_res1_ = l.Res("decoder.mid_block.resnets.1", dims[0], dims[0]);
  for (size_t i = 0; i < stages; ++i) {
    const std::string name = absl::StrCat("decoder.up_blocks.", i);
    // Every up-sampler halves the width, so block i > 0 starts from dims[i] / 2 (Wan2.1).
    int64_t cin = i > 0 ? dims[i] / 2 : dims[i];
    const int64_t cout = dims[i + 1];
    UpBlock b;
    for (int r = 0; r <= config.num_res_blocks; ++r) {
      b.resnets.push_back(l.Res(absl::StrCat(name, ".resnets.", r), cin, cout));
      cin = cout;
    }
    if (i + 1 < stages) {
      // temperal_upsample = reversed(temperal_downsample).
      b.time_up = config.temperal_downsample[stages - 2 - i];
      b.space_up = true;
      const std::string up = name + ".upsamplers.0";
      if (b.time_up) b.time_conv = l.Conv3d(up + ".time_conv", cout, 2 * cout, 3, 1);
      l.scale *= 2;  // the spatial conv runs after the nearest ×2
      b.space_conv = l.Conv2d(up + ".resample.1", cout, cout / 2, 3);
    }
    m.up_blocks_.push_back(std::move(b));
  }
  m.norm_out_ = l.Gamma("decoder.norm_out", dims.back());
  m.conv_out_ = l.Conv3d("decoder.conv_out", dims.back(), config.out_channels, 3, 3);
  // Text-to-video only decodes; the encoder (and its quant_conv) would serve image-to-video.
  s.Ignore("encoder.");
  s.Ignore("quant_conv.");
  REEL_RETURN_IF_ERROR(s.Finish());
  for (const auto& [ch, scale] : l.caches) m.cache_specs_.push_back({ch, scale});
  return m;
}

absl::StatusOr<WanVaeStream> WanVaeDecoder::NewStream(int64_t latent_height,
                                                      int64_t latent_width) const {
  if (latent_height <= 0 || latent_width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("latent size ", latent_height, "x", latent_width, " must be positive"));
  }
  WanVaeStream s;
  s.latent_height = latent_height;
  s.latent_width = latent_width;
  for (const CacheSpec& c : cache_specs_) {
    REEL_ASSIGN_OR_RETURN(Tensor cache,
                          Tensor::Zeros({c.channels, video::kCacheFrames, latent_height * c.scale,
                                         latent_width * c.scale}));
    s.caches.push_back(std::move(cache));
  }
  return s;
}

int64_t WanVaeDecoder::cache_bytes(const WanVaeStream& stream) const {
  return video::TotalBytes(stream.caches);
}

int64_t WanVaeDecoder::frames_for_latents(int64_t latent_frames) const {
  return latent_frames <= 0 ? 0 : 1 + config_.temporal_factor() * (latent_frames - 1);
}

absl::StatusOr<Tensor> WanVaeDecoder::DecodeUnclamped(WanVaeStream& stream,
                                                      const Tensor& latents) const {
  if (stream.caches.size() != cache_specs_.size()) {
    return absl::InvalidArgumentError("Wan VAE stream was not made by this decoder's NewStream");
  }
  for (size_t i = 0; i < cache_specs_.size(); ++i) {
    const Tensor& c = stream.caches[i];
    if (c.rank() != 4 || c.dim(0) != cache_specs_[i].channels ||
        c.dim(2) != stream.latent_height * cache_specs_[i].scale ||
        c.dim(3) != stream.latent_width * cache_specs_[i].scale) {
      return absl::InvalidArgumentError("Wan VAE stream was not made by this decoder's NewStream");
    }
  }
  // z = z_n / (1 / std) + mean, as the pipeline does before vae.decode.
  REEL_ASSIGN_OR_RETURN(Tensor x,
                        video::Denormalize(latents, config_.latents_mean, config_.latents_std,
                                           stream.latent_height, stream.latent_width, "Wan VAE"));
  const bool starts_video = stream.frames_decoded == 0;
  REEL_ASSIGN_OR_RETURN(Tensor h, Run(post_quant_, x, stream));
  REEL_ASSIGN_OR_RETURN(h, Run(conv_in_, h, stream));
  REEL_ASSIGN_OR_RETURN(h, RunRes(mid_res0_, h, stream));
  REEL_RETURN_IF_ERROR(wan_vae::FrameAttention(h, mid_attn_.norm, mid_attn_.qkv.weight,
                                               mid_attn_.qkv.bias, mid_attn_.proj.weight,
                                               mid_attn_.proj.bias));
  REEL_ASSIGN_OR_RETURN(h, RunRes(mid_res1_, h, stream));
  for (const UpBlock& b : up_blocks_) {
    for (const ResBlock& r : b.resnets) {
      REEL_ASSIGN_OR_RETURN(h, RunRes(r, h, stream));
    }
    if (b.time_up) {
      REEL_ASSIGN_OR_RETURN(h, TimeUp(b.time_conv, h, starts_video, stream));
    }
    if (b.space_up) {
      REEL_ASSIGN_OR_RETURN(h, video::NearestUp2(h));
      REEL_ASSIGN_OR_RETURN(h, Run(b.space_conv, h, stream));
    }
  }
  REEL_ASSIGN_OR_RETURN(h, wan_vae::ChannelNorm(h, norm_out_, /*silu=*/true));
  REEL_ASSIGN_OR_RETURN(Tensor out, Run(conv_out_, h, stream));
  stream.frames_decoded += latents.dim(1);
  return out;
}

absl::StatusOr<Tensor> WanVaeDecoder::Decode(WanVaeStream& stream, const Tensor& latents) const {
  REEL_ASSIGN_OR_RETURN(Tensor out, DecodeUnclamped(stream, latents));
  video::ClampInPlace(out, -1.0f, 1.0f);
  return out;
}

}  // namespace reel
