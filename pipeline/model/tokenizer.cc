#include "pipeline/model/tokenizer.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/json_fields.h"

namespace reel {

std::vector<std::string> SplitWords(const std::string& text) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    // Byte-wise and ASCII only (TEXT_ENCODER.md): every non-letter byte, UTF-8 included, separates.
    const char lower = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    if (lower >= 'a' && lower <= 'z') {
      cur.push_back(lower);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

absl::StatusOr<Tokenizer> Tokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open tokenizer file '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return FromJson(text.str(), path);
}

absl::StatusOr<Tokenizer> Tokenizer::FromJson(const std::string& json_text,
                                              const std::string& origin) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(origin, ": not valid JSON"));
  Tokenizer t;
  JsonFields f(j, origin);
  std::string type;
  nlohmann::json vocab;
  f.Required("type", type);
  f.Required("max_tokens", t.max_tokens_);
  f.Required("pad_id", t.pad_id_);
  f.Required("unk_id", t.unk_id_);
  f.Required("bos_id", t.bos_id_);
  f.Required("vocab", vocab);
  if (j.is_object() && j.contains("type") && type != "reel-words") {
    f.Error(absl::StrCat("'type' is '", type, "', expected reel-words"));
  }
  if (j.is_object() && j.contains("vocab")) {
    if (!vocab.is_array()) {
      f.Error("'vocab' must be an array of strings");
    } else {
      for (const auto& w : vocab) {
        if (!w.is_string()) {
          f.Error("'vocab' must be an array of strings");
          break;
        }
        const std::string word = w.get<std::string>();
        if (!t.index_.emplace(word, static_cast<int>(t.vocab_.size())).second) {
          f.Error(absl::StrCat("'vocab' lists '", word, "' twice"));
        }
        t.vocab_.push_back(word);
      }
    }
  }
  if (t.max_tokens_ < 1) f.Error("'max_tokens' must be >= 1");
  const int v = static_cast<int>(t.vocab_.size());
  for (int id : {t.pad_id_, t.unk_id_, t.bos_id_}) {
    if (id < 0 || id >= v) {
      f.Error(absl::StrCat("special token id ", id, " outside the vocabulary of ", v));
      break;
    }
  }
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return t;
}

int Tokenizer::Id(const std::string& word) const {
  auto it = index_.find(word);
  return it == index_.end() ? unk_id_ : it->second;
}

TokenizedPrompt Tokenizer::Encode(const std::string& prompt) const {
  TokenizedPrompt out;
  out.ids.assign(max_tokens_, pad_id_);
  out.mask.assign(max_tokens_, 0.0f);
  out.ids[0] = bos_id_;
  out.mask[0] = 1.0f;
  int n = 1;
  for (const std::string& w : SplitWords(prompt)) {
    if (n == max_tokens_) break;
    out.ids[n] = Id(w);
    out.mask[n] = 1.0f;
    ++n;
  }
  return out;
}

int Tokenizer::unknown_words(const std::string& prompt) const {
  int unknown = 0;
  for (const std::string& w : SplitWords(prompt)) unknown += index_.count(w) == 0;
  return unknown;
}

}  // namespace reel
