#include "pipeline/generate/random_model.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/config.h"
#include "pipeline/model/dit.h"
#include "pipeline/model/text_encoder.h"
#include "pipeline/model/vae_decoder.h"
#include "pipeline/tensor/safetensors.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

absl::Status WriteJson(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteRandomModel(const std::string& dir, const RandomModelOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create '", dir, "': ", ec.message()));
  const std::vector<std::string> words = {"<pad>", "<unk>",  "<bos>",  "a",      "red",   "blue",
                                          "green", "circle", "square", "moving", "left",  "right",
                                          "up",    "down",   "and",    "on",     "black", "white"};
  const nlohmann::json transformer = {
      {"in_channels", 4},  {"out_channels", 4},    {"patch_size", {1, 2, 2}},
      {"hidden_size", 64}, {"num_layers", 2},      {"num_heads", 2},
      {"head_dim", 32},    {"cross_num_heads", 2}, {"cross_head_dim", 32},
      {"caption_dim", 32}, {"ffn_hidden", 96},     {"temporal_conv", "causal"},
      {"block_frames", 1}};
  const nlohmann::json text = {{"type", "reel-words-transformer"},
                               {"vocab_size", words.size()},
                               {"dim", 32},
                               {"num_layers", 1},
                               {"num_heads", 2},
                               {"mlp_hidden", 64},
                               {"max_tokens", 16}};
  const nlohmann::json vae = {{"type", "reel-causal-vae"},  {"latent_channels", 4},
                              {"channels", {8, 8, 8}},      {"spatial_factor", 4},
                              {"temporal_factor", 4},       {"latents_mean", {0, 0, 0, 0}},
                              {"latents_std", {1, 1, 1, 1}}};
  const nlohmann::json config = {
      {"name", "random-tiny"},
      {"transformer", transformer},
      {"sampler",
       {{"flow_shift", 3.0}, {"steps", o.steps}, {"cfg_scale", 3.0}, {"solver", "dpm++2m"}}},
      {"vae", vae},
      {"text_encoder", text},
      {"video", {{"width", o.width}, {"height", o.height}, {"frames", o.frames}, {"fps", o.fps}}}};
  REEL_RETURN_IF_ERROR(WriteJson(dir + "/config.json", config));
  REEL_RETURN_IF_ERROR(WriteJson(dir + "/tokenizer.json", {{"type", "reel-words"},
                                                           {"max_tokens", 16},
                                                           {"pad_id", 0},
                                                           {"unk_id", 1},
                                                           {"bos_id", 2},
                                                           {"vocab", words}}));
  REEL_ASSIGN_OR_RETURN(ModelConfig mc, ParseModelConfig(config));

  WeightStore dit_w = WeightStore::RandomForTesting(o.seed);
  REEL_RETURN_IF_ERROR(Dit::Load(mc.transformer, dit_w).status());
  REEL_RETURN_IF_ERROR(WriteSafetensors(dir + "/transformer.safetensors", dit_w.invented()));

  WeightStore text_w = WeightStore::RandomForTesting(o.seed + 1);
  REEL_ASSIGN_OR_RETURN(TextEncoderConfig tc, ParseTextEncoderConfig(mc.text_encoder));
  REEL_RETURN_IF_ERROR(TextEncoder::Load(tc, text_w).status());
  REEL_RETURN_IF_ERROR(WriteSafetensors(dir + "/text_encoder.safetensors", text_w.invented()));

  WeightStore vae_w = WeightStore::RandomForTesting(o.seed + 2);
  REEL_ASSIGN_OR_RETURN(VaeConfig vc, ParseVaeConfig(mc.vae));
  REEL_RETURN_IF_ERROR(VaeDecoder::Load(vc, vae_w).status());
  return WriteSafetensors(dir + "/vae.safetensors", vae_w.invented());
}

}  // namespace reel
