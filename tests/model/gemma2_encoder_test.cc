// The Gemma-2 encoder, Gemma tokenizer and SANA-Video prompt processing against the PyTorch
// reference (tools/reference/make_gemma_golden.py, run live by ctest as a fixture): a
// tokenizer.model trained by spm_train, token ids from python3-sentencepiece, hidden states
// computed in float64 from the same f32 weights (3 layers: sliding/global/sliding, window 5, GQA
// 4/2, head_dim 24 != hidden/ heads, soft-cap 3). Hidden states within 1e-4 (f32), ids and masks
// exactly.
#include "pipeline/model/gemma2_encoder.h"

#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/sana_prompt.h"
#include "pipeline/model/sentencepiece_tokenizer.h"
#include "pipeline/tensor/safetensors.h"

namespace reel {
namespace {

constexpr double kTolerance = 1e-4;
const std::string kDir = REEL_GEMMA_GOLDEN;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// max |a - b| over all elements; the shapes must agree.
double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(ShapeString(a.shape()), ShapeString(b.shape()));
  if (a.shape() != b.shape()) return INFINITY;
  const std::vector<float> x = *a.ToVector(), y = *b.ToVector();
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(double{x[i]} - y[i]));
  return worst;
}

class Gemma2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    golden_ = ReadJson(kDir + "/golden.json");
    ASSERT_TRUE(golden_.is_object()) << "no goldens in " << kDir;
    absl::StatusOr<SentencePieceTokenizer> tok =
        SentencePieceTokenizer::Load(kDir + "/tokenizer/tokenizer.model");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = std::make_unique<SentencePieceTokenizer>(*std::move(tok));
    absl::StatusOr<Gemma2Config> config =
        ParseGemma2Config(ReadJson(kDir + "/text_encoder/config.json"));
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<WeightStore> w = WeightStore::Open(kDir + "/text_encoder/model.safetensors");
    ASSERT_TRUE(w.ok()) << w.status();
    absl::StatusOr<Gemma2Encoder> enc = Gemma2Encoder::Load(*config, *w);
    ASSERT_TRUE(enc.ok()) << enc.status();
    encoder_ = std::make_unique<Gemma2Encoder>(*std::move(enc));
    absl::StatusOr<SafetensorsFile> g = ReadSafetensors(kDir + "/golden.safetensors");
    ASSERT_TRUE(g.ok()) << g.status();
    hidden_ = *std::move(g);
  }

  nlohmann::json golden_;
  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
  std::unique_ptr<Gemma2Encoder> encoder_;
  SafetensorsFile hidden_;
};

TEST_F(Gemma2Test, ConfigMatchesTheReferenceModel) {
  const Gemma2Config& c = encoder_->config();
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.head_dim, 24);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.sliding_window, 5);
  EXPECT_FLOAT_EQ(c.attn_logit_softcapping, 3.0f);
  EXPECT_EQ(c.layer_is_sliding, (std::vector<bool>{true, false, true}));
}

TEST_F(Gemma2Test, TokenizerMatchesPythonSentencepiece) {
  EXPECT_EQ(tokenizer_->bos_id(), golden_["bos_id"].get<int>());
  EXPECT_EQ(tokenizer_->eos_id(), golden_["eos_id"].get<int>());
  EXPECT_EQ(tokenizer_->pad_id(), golden_["pad_id"].get<int>());
  EXPECT_EQ(tokenizer_->vocab_size(), golden_["vocab_size"].get<int>());
  bool saw_empty = false, saw_byte_fallback = false, saw_long = false;
  for (const auto& r : golden_["tokenizer"]) {
    const std::string text = r["text"].get<std::string>();
    const std::vector<int32_t> want = r["ids"].get<std::vector<int32_t>>();
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, want) << "'" << text << "'";
    saw_empty |= text.empty();
    saw_long |= want.size() > 300;
    // Pieces 4..259 are the byte-fallback pieces <0x00>..<0xFF> (emoji are not in the vocabulary).
    for (const int32_t id : want) saw_byte_fallback |= id >= 4 && id < 260;
    if (!text.empty()) {
      absl::StatusOr<std::string> back = tokenizer_->Decode(*ids);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, text) << "identity normalization and byte fallback round-trip";
    }
  }
  EXPECT_TRUE(saw_empty && saw_byte_fallback && saw_long);
}

TEST_F(Gemma2Test, TokenizerRefusesInvalidUtf8AndMissingModel) {
  for (const std::string& bad : {std::string("\xff"), std::string("a\xc3"),
                                 std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(bad);
    EXPECT_FALSE(ids.ok());
    EXPECT_NE(ids.status().message().find("UTF-8"), std::string::npos) << ids.status();
  }
  absl::StatusOr<SentencePieceTokenizer> missing = SentencePieceTokenizer::Load(kDir + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<SentencePieceTokenizer> not_a_model =
      SentencePieceTokenizer::Load(kDir + "/golden.json");
  EXPECT_FALSE(not_a_model.ok());
  EXPECT_NE(not_a_model.status().message().find("golden.json"), std::string::npos);
}

TEST_F(Gemma2Test, EncoderMatchesReferencePaddedAndUnpadded) {
  ASSERT_GE(golden_["encoder"].size(), 3u);
  for (const auto& r : golden_["encoder"]) {
    const std::string name = r["name"].get<std::string>();
    const std::vector<int32_t> ids = r["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> mask = r["mask"].get<std::vector<int32_t>>();
    absl::StatusOr<Tensor> hidden = encoder_->Forward(ids, mask);
    ASSERT_TRUE(hidden.ok()) << hidden.status();
    const double err = MaxAbsDiff(*hidden, hidden_.tensors.at("encoder." + name));
    EXPECT_LE(err, kTolerance) << name;
    std::printf("gemma2 encoder %-10s L=%zu max|C++ - reference| = %.2e\n", name.c_str(),
                ids.size(), err);
  }
}

// A bf16 checkpoint: the matrices stay bf16 views of the mapped file (half the bytes) and the
// forward equals the reference evaluated from the bf16-rounded weights.
TEST_F(Gemma2Test, Bf16WeightsStayMappedAndMatchReference) {
  absl::StatusOr<Gemma2Config> config =
      ParseGemma2Config(ReadJson(kDir + "/text_encoder_bf16/config.json"));
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<WeightStore> w = WeightStore::Open(kDir + "/text_encoder_bf16/model.safetensors");
  ASSERT_TRUE(w.ok()) << w.status();
  absl::StatusOr<Gemma2Encoder> enc = Gemma2Encoder::Load(*config, *w);
  ASSERT_TRUE(enc.ok()) << enc.status();
  const int64_t norm_bytes = (4 * 3 + 1) * 64 * 4;  // 13 norms of 64, folded to f32
  EXPECT_EQ(enc->parameter_bytes() - norm_bytes, (encoder_->parameter_bytes() - norm_bytes) / 2);
  for (const auto& r : golden_["encoder"]) {
    const std::string name = r["name"].get<std::string>();
    absl::StatusOr<Tensor> hidden =
        enc->Forward(r["ids"].get<std::vector<int32_t>>(), r["mask"].get<std::vector<int32_t>>());
    ASSERT_TRUE(hidden.ok()) << hidden.status();
    const double err = MaxAbsDiff(*hidden, hidden_.tensors.at("encoder_bf16." + name));
    EXPECT_LE(err, kTolerance) << name;
    // Not the f32 model's answer: the bf16 rounding of the weights shows.
    EXPECT_GT(MaxAbsDiff(*hidden, hidden_.tensors.at("encoder." + name)), 1e-3) << name;
  }
}

TEST_F(Gemma2Test, SanaPromptIdsMaskAndHiddenMatchReference) {
  ASSERT_GE(golden_["prompt"].size(), 5u);
  for (const auto& r : golden_["prompt"]) {
    const std::string name = r["name"].get<std::string>();
    SanaPromptOptions options;
    if (r["chi"].get<bool>())
      options.complex_human_instruction = SanaVideoComplexHumanInstruction();
    options.max_sequence_length = r["max_sequence_length"].get<int>();
    const std::string prompt = r["prompt"].get<std::string>();
    absl::StatusOr<SanaPromptTokens> t = TokenizeSanaPrompt(*tokenizer_, prompt, options);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->ids, r["ids"].get<std::vector<int32_t>>()) << name;
    EXPECT_EQ(t->attention_mask, r["mask"].get<std::vector<int32_t>>()) << name;
    EXPECT_EQ(t->selected, r["selected"].get<std::vector<int64_t>>()) << name;

    absl::StatusOr<SanaCaption> c = EncodeSanaPrompt(*encoder_, *tokenizer_, prompt, options);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->hidden.dim(0), options.max_sequence_length);
    EXPECT_EQ(MaxAbsDiff(c->mask, hidden_.tensors.at("prompt." + name + ".mask")), 0.0) << name;
    const double err = MaxAbsDiff(c->hidden, hidden_.tensors.at("prompt." + name + ".hidden"));
    EXPECT_LE(err, kTolerance) << name;
    std::printf("sana prompt %-15s L=%zu max|C++ - reference| = %.2e\n", name.c_str(),
                t->ids.size(), err);
  }
}

// Python's str.lower().strip() (the reference's answers) on cases where a byte-wise or ASCII-only
// version would differ: Unicode spaces, final sigma, a lower case longer than its upper case.
TEST_F(Gemma2Test, PreprocessLowersAndStripsAsPython) {
  ASSERT_GE(golden_["preprocess"].size(), 6u);
  for (const auto& r : golden_["preprocess"]) {
    const std::string in = r["text"].get<std::string>();
    absl::StatusOr<std::string> out = PreprocessSanaPrompt(in);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, r["want"].get<std::string>()) << "'" << in << "'";
  }
  EXPECT_FALSE(PreprocessSanaPrompt("bad \xff").ok());
}

TEST(Gemma2ConfigTest, RefusesUnknownAndUnsupportedFieldsNamingThem) {
  const nlohmann::json base = {
      {"vocab_size", 10},       {"hidden_size", 8},         {"intermediate_size", 16},
      {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
      {"head_dim", 4},          {"model_type", "gemma2"}};
  ASSERT_TRUE(ParseGemma2Config(base).ok()) << ParseGemma2Config(base).status();
  const std::pair<nlohmann::json, std::string> bad[] = {
      {{{"hidden_activation", "gelu"}}, "hidden_activation"},
      {{{"attention_bias", true}}, "attention_bias"},
      {{{"rope_scaling", {{"rope_type", "linear"}, {"factor", 2.0}}}}, "rope_scaling"},
      {{{"use_bidirectional_attention", true}}, "use_bidirectional_attention"},
      {{{"model_type", "gemma3_text"}}, "model_type"},
      {{{"quantization_config", {{"bits", 4}}}}, "quantization_config"},
      {{{"layer_types", {"full_attention"}}}, "layer_types"},
      {{{"sliding_window", "big"}}, "sliding_window"},
      {{{"sliding_window", 1e30}}, "sliding_window"},
      {{{"eos_token_id", "</s>"}}, "eos_token_id"},
  };
  for (const auto& [patch, field] : bad) {
    nlohmann::json j = base;
    j.update(patch);
    absl::StatusOr<Gemma2Config> c = ParseGemma2Config(j);
    EXPECT_FALSE(c.ok()) << patch.dump();
    EXPECT_NE(c.status().message().find(field), std::string::npos) << c.status();
  }
  nlohmann::json missing = base;
  missing.erase("hidden_size");
  EXPECT_NE(ParseGemma2Config(missing).status().message().find("hidden_size"), std::string::npos);
}

TEST(Gemma2ConfigTest, NullsNewerRopeFieldsAndLayerTypesAreRead) {
  const nlohmann::json j = {
      {"vocab_size", 10},
      {"hidden_size", 8},
      {"intermediate_size", 16},
      {"num_hidden_layers", 3},
      {"num_attention_heads", 2},
      {"num_key_value_heads", 2},
      {"head_dim", 4},
      {"sliding_window", nullptr},
      {"attn_logit_softcapping", nullptr},
      {"final_logit_softcapping", nullptr},
      {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 500.0}}},
      {"layer_types", {"full_attention", "sliding_attention", "full_attention"}},
      {"architectures", {"Gemma2ForCausalLM"}},
      {"eos_token_id", {1, 107}},
      {"pad_token_id", nullptr},
      {"dtype", "bfloat16"}};
  absl::StatusOr<Gemma2Config> c = ParseGemma2Config(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->attn_logit_softcapping, 0.0f);
  EXPECT_EQ(c->rope_theta, 500.0f);
  EXPECT_EQ(c->layer_is_sliding, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(c->eos_token_id, 1);
  EXPECT_EQ(c->pad_token_id, -1);
}

// Weights under "model." (a Gemma2ForCausalLM export) load too; a wrong shape or a missing tensor
// is reported by name.
TEST(Gemma2LoadTest, AcceptsCausalLmPrefixAndNamesBadWeights) {
  Gemma2Config c;
  c.vocab_size = 12, c.hidden_size = 8, c.intermediate_size = 16, c.num_hidden_layers = 1;
  c.num_attention_heads = 2, c.num_key_value_heads = 1, c.head_dim = 4;
  c.layer_is_sliding = {true};
  WeightStore random = WeightStore::RandomForTesting(3);
  ASSERT_TRUE(Gemma2Encoder::Load(c, random).ok());
  std::map<std::string, Tensor> prefixed;
  for (const auto& [name, t] : random.invented()) prefixed["model." + name] = t;
  prefixed["lm_head.weight"] = random.invented().at("embed_tokens.weight");
  WeightStore causal_lm = WeightStore::FromTensors(prefixed, "causal-lm");
  absl::StatusOr<Gemma2Encoder> enc = Gemma2Encoder::Load(c, causal_lm);
  ASSERT_TRUE(enc.ok()) << enc.status();
  absl::StatusOr<Tensor> h = enc->Forward({2, 5, 7}, {1, 1, 0});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(ShapeString(h->shape()), "[3,8]");
  EXPECT_FALSE(enc->Forward({2, 99}, {1, 1}).ok());  // id past the vocabulary
  EXPECT_FALSE(enc->Forward({2, 5}, {1}).ok());      // mask length
  EXPECT_FALSE(enc->Forward({}, {}).ok());

  std::map<std::string, Tensor> broken = random.invented();
  broken.erase("layers.0.mlp.up_proj.weight");
  broken["layers.0.self_attn.k_proj.weight"] = *Tensor::Zeros({8, 8});
  WeightStore bad = WeightStore::FromTensors(broken, "broken");
  absl::StatusOr<Gemma2Encoder> fail = Gemma2Encoder::Load(c, bad);
  ASSERT_FALSE(fail.ok());
  EXPECT_NE(fail.status().message().find("layers.0.mlp.up_proj.weight"), std::string::npos);
  EXPECT_NE(fail.status().message().find("layers.0.self_attn.k_proj.weight"), std::string::npos);
}

}  // namespace
}  // namespace reel
