#pragma once
// Gemma's tokenizer: Debian's libsentencepiece on the checkpoint's tokenizer/tokenizer.model, with
// the model's own normalizer settings (GemmaTokenizer's slow path is sentencepiece itself). The
// library runs inside a plugin (sentencepiece_backend.h says why).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pipeline/model/sentencepiece_backend.h"

namespace reel {

class SentencePieceTokenizer {
 public:
  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;
  ~SentencePieceTokenizer();

  // A missing, unreadable or malformed model is an error naming the path; so is a missing plugin.
  static absl::StatusOr<SentencePieceTokenizer> Load(const std::string& model_path);

  // Piece ids of `text` (UTF-8), no special tokens added. Invalid UTF-8 is an error.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const;
  // The ids back to text (for messages and tests).
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;
  int32_t vocab_size() const;

 private:
  SentencePieceTokenizer(const spm_backend::Api* api, spm_backend::ModelPtr sp);
  const spm_backend::Api* api_;
  spm_backend::ModelPtr sp_;
};

}  // namespace reel
