// The diffusers SANA-Video checkpoint layout (pipeline/model/CHECKPOINT.md): config mapping of
// transformer/, scheduler/ and model_index.json, the sharded bf16 transformer, and one clear error
// for each broken copy, on the synthetic checkpoint tools/reference/write_sana_checkpoint.py
// writes live (ctest fixture sana_checkpoint).
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/model/checkpoint_weights.h"
#include "pipeline/model/diffusers_config.h"
#include "pipeline/model/dit.h"

namespace reel {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kRoot = REEL_SANA_CHECKPOINT;

std::string Dir(const std::string& variant) { return kRoot + "/" + variant; }

nlohmann::json Json(const std::string& path) {
  absl::StatusOr<nlohmann::json> j = ReadJsonFile(path);
  EXPECT_TRUE(j.ok()) << j.status() << " (run through ctest: make_sana_checkpoint writes it)";
  return j.ok() ? *j : nlohmann::json();
}

// Loads the transformer of a variant as the renderer does: config, then weights, then the DiT.
absl::Status LoadTransformer(const std::string& variant) {
  absl::StatusOr<DitConfig> c =
      ParseSanaVideoTransformerConfig(Json(Dir(variant) + "/transformer/config.json"));
  if (!c.ok()) return c.status();
  absl::StatusOr<WeightStore> w = OpenComponentWeights(Dir(variant) + "/transformer");
  if (!w.ok()) return w.status();
  return Dit::Load(*c, *w).status();
}

TEST(CheckpointTest, TransformerConfigMapsToDitConfig) {
  int sample_size = 0;
  absl::StatusOr<DitConfig> c =
      ParseSanaVideoTransformerConfig(Json(Dir("good") + "/transformer/config.json"), &sample_size);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->bidirectional());
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->ffn_hidden, 96);  // int(mlp_ratio 1.5 × 64)
  EXPECT_EQ(c->caption_dim, 64);
  EXPECT_EQ(c->out_norm_eps, 1e-6f);
  EXPECT_EQ(c->caption_norm_eps, 1e-5f);
  EXPECT_EQ(sample_size, 4);
}

TEST(CheckpointTest, OfficialDefaultsFillMissingFields) {
  // diffusers fills a missing field with the class default: an empty config is the 2B class shape.
  absl::StatusOr<DitConfig> c =
      ParseSanaVideoTransformerConfig({{"_class_name", "SanaVideoTransformer3DModel"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hidden_size, 2240);
  EXPECT_EQ(c->num_layers, 20);
  EXPECT_EQ(c->ffn_hidden, 5600);  // the class default mlp_ratio 2.5; the release says 3.0
  EXPECT_EQ(c->caption_dim, 2304);
}

TEST(CheckpointTest, RefusesFieldsReelDoesNotCompute) {
  const nlohmann::json base = Json(Dir("good") + "/transformer/config.json");
  const std::pair<const char*, nlohmann::json> cases[] = {
      {"attention_bias", true},   {"norm_elementwise_affine", true},
      {"guidance_embeds", true},  {"qk_norm", nullptr},
      {"use_magic_attention", 1}, {"_class_name", "SanaVideoCausalTransformer3DModel"},
  };
  for (const auto& [key, value] : cases) {
    nlohmann::json j = base;
    j[key] = value;
    const absl::Status s = ParseSanaVideoTransformerConfig(j).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(s.message()), HasSubstr(key));
  }
}

TEST(CheckpointTest, SchedulerConfigIsTheFlowDpmSolver) {
  absl::StatusOr<SamplerConfig> s =
      ParseFlowDpmSchedulerConfig(Json(Dir("good") + "/scheduler/config.json"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->solver, "dpm++2m");
  EXPECT_EQ(s->flow_shift, 8.0f);
  EXPECT_EQ(s->num_train_timesteps, 1000);
  EXPECT_EQ(s->steps, 50);
  EXPECT_EQ(s->cfg_scale, 6.0f);
  const nlohmann::json base = Json(Dir("good") + "/scheduler/config.json");
  const std::pair<const char*, nlohmann::json> refused[] = {
      {"use_flow_sigmas", false},
      {"prediction_type", "epsilon"},
      {"algorithm_type", "sde-dpmsolver++"},
      {"solver_type", "heun"},
      {"final_sigmas_type", "sigma_min"},
      {"use_karras_sigmas", true},
      {"solver_order", 3},
      {"thresholding", true},
      {"use_dynamic_shifting", true},
      {"variance_type", "learned"},
  };
  for (const auto& [key, value] : refused) {
    nlohmann::json j = base;
    j[key] = value;
    const absl::Status st = ParseFlowDpmSchedulerConfig(j).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(st.message()), HasSubstr(key));
  }
  nlohmann::json first_order = base;
  first_order["solver_order"] = 1;
  EXPECT_EQ(ParseFlowDpmSchedulerConfig(first_order)->solver, "euler");
}

TEST(CheckpointTest, ModelIndexNamesTheComponents) {
  absl::StatusOr<SanaVideoIndex> index =
      ParseSanaVideoIndex(Json(Dir("good") + "/model_index.json"));
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->components.size(), 5u);
  nlohmann::json j = Json(Dir("good") + "/model_index.json");
  j["vae"] = {"diffusers", "AutoencoderDC"};
  EXPECT_THAT(std::string(ParseSanaVideoIndex(j).status().message()),
              AllOf(HasSubstr("'vae' is AutoencoderDC"), HasSubstr("AutoencoderKLWan")));
}

TEST(CheckpointTest, ShardedBf16TransformerLoadsWithoutCopyingItsMatrices) {
  absl::StatusOr<WeightStore> w = OpenComponentWeights(Dir("good") + "/transformer");
  ASSERT_TRUE(w.ok()) << w.status();
  absl::StatusOr<DitConfig> c =
      ParseSanaVideoTransformerConfig(Json(Dir("good") + "/transformer/config.json"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(Dit::Load(*c, *w).ok()) << Dit::Load(*c, *w).status();
  // Matrices stay the mapped bf16 views; only norms, biases, modulation tables and the depthwise
  // kernels (a few percent of the parameters) are widened to f32.
  EXPECT_GT(w->converted_bytes(), 0);
  EXPECT_LT(w->converted_bytes(), w->parameter_bytes() / 4)
      << w->converted_bytes() << " of " << w->parameter_bytes();
  const Tensor proj = w->TakeMatrix("proj_out.weight", {16, 64});
  EXPECT_EQ(proj.dtype(), DType::kBF16);
}

TEST(CheckpointTest, EachFaultIsOneClearError) {
  const std::pair<const char*, std::vector<std::string>> cases[] = {
      {"wrong_shape", {"weight 'proj_out.weight': shape [8,64], expected [16,64]"}},
      {"missing_tensor", {"weight 'proj_out.bias' missing (expected shape [16])"}},
      {"truncated_shard", {"diffusion_pytorch_model-00001-of-00002.safetensors: truncated"}},
      {"missing_shard",
       {"names shard 'diffusion_pytorch_model-00002-of-00002.safetensors'", "which is missing"}},
      {"unknown_field", {"transformer/config.json", "unknown key 'use_magic_attention'"}},
  };
  for (const auto& [variant, wanted] : cases) {
    const absl::Status s = LoadTransformer(variant);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << variant << ": " << s;
    for (const std::string& w : wanted) {
      EXPECT_THAT(std::string(s.message()), HasSubstr(w)) << variant;
    }
  }
}

TEST(CheckpointTest, IndexNamingAFileElsewhereIsRefused) {
  const std::string d = ::testing::TempDir() + "/reel_ckpt_escape";
  std::filesystem::remove_all(d);
  std::filesystem::copy(Dir("good") + "/transformer", d);
  nlohmann::json index = Json(d + "/diffusion_pytorch_model.safetensors.index.json");
  index["weight_map"]["proj_out.bias"] = "../elsewhere.safetensors";
  std::ofstream(d + "/diffusion_pytorch_model.safetensors.index.json") << index.dump();
  const absl::Status s = OpenComponentWeights(d).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("is not a file name"));
  std::filesystem::remove_all(d);
}

// reel's own config.json must say which temporal conv it means (the two compute different models)
// and a bidirectional (centered) model takes no blocks; the norms' eps fields default to
// diffusers' values.
TEST(CheckpointTest, ReelConfigStatesItsTemporalConv) {
  nlohmann::json j = {{"in_channels", 4},     {"out_channels", 4},    {"hidden_size", 64},
                      {"num_layers", 2},      {"num_heads", 2},       {"head_dim", 32},
                      {"cross_num_heads", 2}, {"cross_head_dim", 32}, {"caption_dim", 24},
                      {"ffn_hidden", 96}};
  EXPECT_THAT(std::string(ParseDitConfig(j).status().message()), HasSubstr("'temporal_conv'"));
  j["temporal_conv"] = "centered";
  absl::StatusOr<DitConfig> centered = ParseDitConfig(j);
  ASSERT_TRUE(centered.ok()) << centered.status();
  EXPECT_TRUE(centered->bidirectional());
  EXPECT_EQ(centered->out_norm_eps, 1e-6f);
  EXPECT_EQ(centered->caption_norm_eps, 1e-5f);
  j["block_frames"] = 2;
  EXPECT_THAT(std::string(ParseDitConfig(j).status().message()), HasSubstr("'block_frames'"));
  j["temporal_conv"] = "causal";
  EXPECT_FALSE(ParseDitConfig(j)->bidirectional());
}

TEST(CheckpointTest, PythonNonStandardNumbersAreRead) {
  const nlohmann::json j = Json(Dir("good") + "/scheduler/config.json");
  ASSERT_TRUE(j.contains("lambda_min_clipped"));  // written as -Infinity by json.dump
  EXPECT_TRUE(j["lambda_min_clipped"].is_null());
}

}  // namespace
}  // namespace reel
