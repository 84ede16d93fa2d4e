// ParseWanVaeConfig: diffusers' AutoencoderKLWan config.json → WanVaeConfig (WAN_VAE.md "Config").
#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "pipeline/model/json_fields.h"
#include "pipeline/model/wan_vae_decoder.h"

namespace reel {
namespace {

// diffusers' defaults: the released Wan2.1 VAE's statistics.
const std::vector<float> kWan21Mean = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                       -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                       -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
const std::vector<float> kWan21Std = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                      2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                      1.6382f, 1.1253f, 2.8251f, 1.9160f};

// An optional positive integer that may be null (diffusers' Optional[int]): null keeps `out`.
void OptionalNullableInt(JsonFields& f, const nlohmann::json& j, const char* key, int& out) {
  nlohmann::json v;
  f.Optional(key, v);
  if (v.is_null()) return;
  if (!v.is_number_integer())
    return f.Error(absl::StrCat("'", key, "' must be an integer or null"));
  out = v.get<int>();
}

}  // namespace

int WanVaeConfig::spatial_factor() const {
  return 1 << std::max<int>(static_cast<int>(dim_mult.size()) - 1, 0);
}

int WanVaeConfig::temporal_factor() const {
  return 1 << static_cast<int>(
             std::count(temperal_downsample.begin(), temperal_downsample.end(), true));
}

absl::StatusOr<WanVaeConfig> ParseWanVaeConfig(const nlohmann::json& j) {
  WanVaeConfig c;
  c.latents_mean = kWan21Mean;
  c.latents_std = kWan21Std;
  JsonFields f(j, "vae/config.json (AutoencoderKLWan)");
  // Bookkeeping diffusers writes; no effect on the weights' meaning.
  std::string class_name = "AutoencoderKLWan", version, name_or_path;
  f.Optional("_class_name", class_name);
  f.Optional("_diffusers_version", version);
  f.Optional("_name_or_path", name_or_path);
  if (class_name != "AutoencoderKLWan") {
    f.Error(absl::StrCat("'_class_name' is '", class_name,
                         "'; this decoder reads AutoencoderKLWan (the Wan2.1 VAE) only"));
  }
  f.Optional("base_dim", c.base_dim);
  c.decoder_base_dim = -1;  // null: base_dim (resolved below)
  OptionalNullableInt(f, j, "decoder_base_dim", c.decoder_base_dim);
  f.Optional("z_dim", c.z_dim);
  f.Optional("dim_mult", c.dim_mult);
  f.Optional("num_res_blocks", c.num_res_blocks);
  f.Optional("out_channels", c.out_channels);
  f.Optional("latents_mean", c.latents_mean);
  f.Optional("latents_std", c.latents_std);

  nlohmann::json down = nlohmann::json::array({false, true, true});
  f.Optional("temperal_downsample", down);
  c.temperal_downsample.clear();
  for (const auto& e : down.is_array() ? down : nlohmann::json::array({nullptr})) {
    if (!e.is_boolean()) {
      f.Error("'temperal_downsample' must be an array of booleans");
      c.temperal_downsample.clear();
      break;
    }
    c.temperal_downsample.push_back(e.get<bool>());
  }

  // Known and irrelevant to decoding: dropout is the identity at inference; in_channels is the
  // encoder's input (never run).
  double dropout = 0.0;
  int in_channels = 3;
  f.Optional("dropout", dropout);
  f.Optional("in_channels", in_channels);

  // Refused unless they describe the Wan2.1 decoder, with the reason.
  nlohmann::json attn_scales = nlohmann::json::array();
  bool is_residual = false;
  f.Optional("attn_scales", attn_scales);
  f.Optional("is_residual", is_residual);
  if (!attn_scales.is_array() || !attn_scales.empty()) {
    f.Error(
        "'attn_scales' must be [] (the released Wan2.1 VAE): other values add attention blocks "
        "this decoder does not implement");
  }
  if (is_residual) {
    f.Error("'is_residual' true is the Wan2.2 VAE (residual up blocks); this decoder is Wan2.1");
  }
  int patch_size = 1;
  OptionalNullableInt(f, j, "patch_size", patch_size);
  if (patch_size != 1) {
    f.Error(absl::StrCat("'patch_size' ", patch_size,
                         " (the Wan2.2 VAE's unpatchify) is not supported; null or 1 only"));
  }

  // Consistency checks.
  if (c.base_dim <= 0) f.Error("'base_dim' must be positive");
  if (c.decoder_base_dim == -1) c.decoder_base_dim = c.base_dim;
  if (c.decoder_base_dim <= 0) f.Error("'decoder_base_dim' must be positive or null");
  if (c.z_dim <= 0) f.Error("'z_dim' must be positive");
  if (c.dim_mult.empty() || *std::min_element(c.dim_mult.begin(), c.dim_mult.end()) <= 0) {
    f.Error("'dim_mult' must be a non-empty array of positive integers");
  } else if (c.dim_mult.size() > 8) {
    f.Error("'dim_mult' has more than 8 stages (a 256x up-sampling decoder)");
  } else if (c.dim_mult.size() > 1 && c.decoder_base_dim > 0 &&
             c.decoder_base_dim * *std::min_element(c.dim_mult.begin(), c.dim_mult.end()) < 2) {
    f.Error("'decoder_base_dim' x 'dim_mult' leaves an up-sampler with no channels");
  }
  if (c.num_res_blocks < 0) f.Error("'num_res_blocks' must be >= 0");
  if (c.out_channels <= 0) f.Error("'out_channels' must be positive");
  if (!c.dim_mult.empty() && c.temperal_downsample.size() + 1 != c.dim_mult.size()) {
    f.Error(absl::StrCat("'temperal_downsample' has ", c.temperal_downsample.size(),
                         " entries; one per down-sampling stage (len(dim_mult) - 1 = ",
                         c.dim_mult.size() - 1, ") expected"));
  }
  const size_t z = static_cast<size_t>(std::max(c.z_dim, 0));
  if (j.is_object() && !j.contains("latents_mean") && z != kWan21Mean.size()) {
    f.Error("'latents_mean' is missing (the default has 16 values, z_dim differs)");
  } else if (c.latents_mean.size() != z) {
    f.Error(absl::StrCat("'latents_mean' has ", c.latents_mean.size(), " values for z_dim ", z));
  }
  if (j.is_object() && !j.contains("latents_std") && z != kWan21Std.size()) {
    f.Error("'latents_std' is missing (the default has 16 values, z_dim differs)");
  } else if (c.latents_std.size() != z) {
    f.Error(absl::StrCat("'latents_std' has ", c.latents_std.size(), " values for z_dim ", z));
  }
  for (float m : c.latents_mean) {
    if (!std::isfinite(m)) {
      f.Error("'latents_mean' values must be finite");
      break;
    }
  }
  for (float s : c.latents_std) {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      f.Error("'latents_std' values must be positive and finite");
      break;
    }
  }
  // The pipeline reads these factors; they must agree with the layers they describe.
  const bool sane = c.dim_mult.size() <= 8 && c.temperal_downsample.size() <= 8;
  const int spatial = sane ? c.spatial_factor() : 0, temporal = sane ? c.temporal_factor() : 0;
  nlohmann::json sf, tf;
  f.Optional("scale_factor_spatial", sf);
  f.Optional("scale_factor_temporal", tf);
  if (!sf.is_null() && (!sf.is_number_integer() || sf.get<int>() != spatial)) {
    f.Error(absl::StrCat("'scale_factor_spatial' ", sf.dump(), " disagrees with dim_mult (",
                         spatial, "x: one x2 up-sampler per stage)"));
  }
  if (!tf.is_null() && (!tf.is_number_integer() || tf.get<int>() != temporal)) {
    f.Error(absl::StrCat("'scale_factor_temporal' ", tf.dump(), " disagrees with ",
                         "temperal_downsample (", temporal, "x: one x2 per true)"));
  }
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

}  // namespace reel
