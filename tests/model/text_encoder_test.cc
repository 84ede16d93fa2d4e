// The C++ tokenizer and text encoder against the PyTorch reference (tools/train/reel_train/
// text_encoder.py, run live in float64 by tools/train/make_cpp_golden.py on random seeded weights):
// ids and masks for prompts with case, punctuation, digits, non-ASCII bytes, unknown words, the
// empty prompt and one past max_tokens; hidden states of the valid rows within 1e-4 (f32).
#include "pipeline/model/text_encoder.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/model/tokenizer.h"
#include "pipeline/tensor/safetensors.h"
#include "tests/model/vae_text_golden.h"

namespace reel {
namespace {

constexpr double kTolerance = 1e-4;

class TextEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new std::string(golden::EnsureVaeTextGolden()); }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override {
    ASSERT_FALSE(dir_->empty()) << "no goldens";
    absl::StatusOr<Tokenizer> tok = Tokenizer::Load(*dir_ + "/tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = std::make_unique<Tokenizer>(*std::move(tok));
    config_json_ = golden::ReadJsonFile(*dir_ + "/text_encoder.json");
    absl::StatusOr<TextEncoderConfig> config = ParseTextEncoderConfig(config_json_);
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<WeightStore> w = WeightStore::Open(*dir_ + "/text_encoder.safetensors");
    ASSERT_TRUE(w.ok()) << w.status();
    absl::StatusOr<TextEncoder> enc = TextEncoder::Load(*config, *w);
    ASSERT_TRUE(enc.ok()) << enc.status();
    encoder_ = std::make_unique<TextEncoder>(*std::move(enc));
    records_ = golden::ReadJsonFile(*dir_ + "/text_golden.json");
    ASSERT_TRUE(records_.is_array() && records_.size() >= 5);
    absl::StatusOr<SafetensorsFile> g = ReadSafetensors(*dir_ + "/text_golden.safetensors");
    ASSERT_TRUE(g.ok()) << g.status();
    hidden_ = *std::move(g);
  }

  static std::string* dir_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<TextEncoder> encoder_;
  nlohmann::json config_json_, records_;
  SafetensorsFile hidden_;
};
std::string* TextEncoderTest::dir_ = nullptr;

TEST_F(TextEncoderTest, TokenizerMatchesReference) {
  bool saw_empty = false, saw_truncated = false, saw_unknown = false;
  for (const auto& r : records_) {
    const std::string prompt = r["prompt"].get<std::string>();
    const std::vector<int> ids = r["ids"].get<std::vector<int>>();
    const std::vector<int> mask = r["mask"].get<std::vector<int>>();
    const TokenizedPrompt t = tokenizer_->Encode(prompt);
    EXPECT_EQ(t.ids, ids) << "'" << prompt << "'";
    ASSERT_EQ(t.mask.size(), mask.size());
    int valid = 0, unk = 0;
    for (size_t i = 0; i < mask.size(); ++i) {
      EXPECT_EQ(t.mask[i], static_cast<float>(mask[i])) << "'" << prompt << "' position " << i;
      valid += mask[i];
      unk += mask[i] && ids[i] == 1;
    }
    EXPECT_EQ(tokenizer_->max_tokens(), static_cast<int>(ids.size()));
    const int words = static_cast<int>(SplitWords(prompt).size());
    if (words + 1 <= tokenizer_->max_tokens()) {
      EXPECT_EQ(tokenizer_->unknown_words(prompt), unk) << "'" << prompt << "'";
    } else {
      saw_truncated = true;
      EXPECT_EQ(valid, tokenizer_->max_tokens());
    }
    saw_empty |= prompt.empty();
    saw_unknown |= unk > 0;
  }
  EXPECT_TRUE(saw_empty && saw_truncated && saw_unknown) << "the golden prompts lost a case";
  const TokenizedPrompt empty = tokenizer_->Encode("");
  EXPECT_EQ(empty.ids[0], 2);
  EXPECT_EQ(empty.mask[0], 1.0f);
  EXPECT_EQ(empty.mask[1], 0.0f);
  EXPECT_EQ(tokenizer_->unknown_words("a zebra, a GNU and 3 yaks"), 3);
}

TEST_F(TextEncoderTest, HiddenStatesMatchReference) {
  const int64_t dim = encoder_->config().dim;
  double worst = 0;
  for (size_t i = 0; i < records_.size(); ++i) {
    const std::string prompt = records_[i]["prompt"].get<std::string>();
    absl::StatusOr<Tensor> h = encoder_->Encode(tokenizer_->Encode(prompt));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_EQ(h->shape(), Shape({tokenizer_->max_tokens(), dim}));
    const std::vector<float> got = *h->ToVector();
    const std::vector<float> want = *hidden_.tensors.at(absl::StrCat("hidden_", i)).ToVector();
    const std::vector<int> mask = records_[i]["mask"].get<std::vector<int>>();
    double err = 0;
    // Only valid rows are part of the contract (the DiT masks the padded ones).
    for (size_t p = 0; p < mask.size(); ++p) {
      if (!mask[p]) continue;
      for (int64_t j = 0; j < dim; ++j) {
        err = std::max(err, std::abs(double(got[p * dim + j]) - double(want[p * dim + j])));
      }
    }
    EXPECT_LE(err, kTolerance) << "'" << prompt << "'";
    worst = std::max(worst, err);
  }
  RecordProperty("max_abs_err", absl::StrCat(worst));
  std::printf("  hidden states, %zu prompts: max abs err %.3g\n", records_.size(), worst);
}

TEST_F(TextEncoderTest, RejectsMismatchedInput) {
  TokenizedPrompt t = tokenizer_->Encode("a red circle");
  t.ids[1] = encoder_->config().vocab_size;
  EXPECT_FALSE(encoder_->Encode(t).ok());
  t = tokenizer_->Encode("a red circle");
  t.ids.pop_back();
  EXPECT_FALSE(encoder_->Encode(t).ok());
  t = tokenizer_->Encode("a red circle");
  for (float& m : t.mask) m = 0.0f;
  EXPECT_FALSE(encoder_->Encode(t).ok());
}

TEST_F(TextEncoderTest, ConfigAndTokenizerAreStrict) {
  nlohmann::json j = config_json_;
  j["dropout"] = 0.1;
  EXPECT_FALSE(ParseTextEncoderConfig(j).ok());
  j = config_json_;
  j["num_heads"] = 5;  // does not divide dim
  EXPECT_FALSE(ParseTextEncoderConfig(j).ok());
  j = config_json_;
  j.erase("dim");
  EXPECT_FALSE(ParseTextEncoderConfig(j).ok());
  EXPECT_FALSE(
      Tokenizer::FromJson(R"({"type": "reel-words", "max_tokens": 4, "pad_id": 0, "unk_id": 1,
                                       "bos_id": 2, "vocab": ["<pad>", "<unk>", "<bos>"], "lower": true})",
                          "test")
          .ok());
  EXPECT_FALSE(
      Tokenizer::FromJson(R"({"type": "reel-words", "max_tokens": 4, "pad_id": 0, "unk_id": 1,
                                       "bos_id": 3, "vocab": ["<pad>", "<unk>", "<bos>"]})",
                          "test")
          .ok());
  EXPECT_FALSE(Tokenizer::FromJson("{", "test").ok());
  EXPECT_FALSE(Tokenizer::Load(*dir_ + "/no_such_tokenizer.json").ok());
  absl::StatusOr<Tokenizer> tiny = Tokenizer::FromJson(
      R"({"type": "reel-words", "max_tokens": 3, "pad_id": 0, "unk_id": 1, "bos_id": 2,
          "vocab": ["<pad>", "<unk>", "<bos>", "red"]})",
      "test");
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  const TokenizedPrompt t = tiny->Encode("RED, blue red");
  EXPECT_EQ(t.ids, std::vector<int>({2, 3, 1}));
  EXPECT_EQ(t.mask, std::vector<float>({1, 1, 1}));
}

TEST_F(TextEncoderTest, LoadReportsUnexpectedWeights) {
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(*dir_ + "/text_encoder.safetensors");
  ASSERT_TRUE(file.ok());
  std::map<std::string, Tensor> tensors = file->tensors;
  tensors["layers.9.q.weight"] = *Tensor::Zeros({2});
  WeightStore store = WeightStore::FromTensors(tensors, "test");
  absl::StatusOr<TextEncoderConfig> config = ParseTextEncoderConfig(config_json_);
  ASSERT_TRUE(config.ok());
  absl::StatusOr<TextEncoder> enc = TextEncoder::Load(*config, store);
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(enc.status().message().find("layers.9.q.weight"), std::string::npos) << enc.status();
}

}  // namespace
}  // namespace reel
