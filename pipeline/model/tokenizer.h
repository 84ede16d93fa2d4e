#pragma once
// The reel word tokenizer (TEXT_ENCODER.md "tokenizer.json"): lowercase ASCII, words are runs of
// a–z, [bos] + word ids (unknown → unk), truncated and padded to max_tokens with a 0/1 mask.
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace reel {

struct TokenizedPrompt {
  std::vector<int> ids;     // max_tokens long
  std::vector<float> mask;  // 1 for [bos] and the words kept, 0 for padding
};

class Tokenizer {
 public:
  static absl::StatusOr<Tokenizer> Load(const std::string& tokenizer_json_path);
  // From the parsed JSON (tests, and Load's second half).
  static absl::StatusOr<Tokenizer> FromJson(const std::string& json_text,
                                            const std::string& origin);

  TokenizedPrompt Encode(const std::string& prompt) const;
  int max_tokens() const { return max_tokens_; }
  int vocab_size() const { return static_cast<int>(vocab_.size()); }
  // How many words of the prompt are not in the vocabulary (all of them, truncated or not).
  int unknown_words(const std::string& prompt) const;

 private:
  int Id(const std::string& word) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int> index_;
  int max_tokens_ = 0;
  int pad_id_ = 0;
  int unk_id_ = 1;
  int bos_id_ = 2;
};

// The tokenizer's word split (exposed for tests): lowercased runs of ASCII letters.
std::vector<std::string> SplitWords(const std::string& text);

}  // namespace reel
