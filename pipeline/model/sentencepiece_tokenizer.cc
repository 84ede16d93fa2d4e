#include "pipeline/model/sentencepiece_tokenizer.h"

#include <unicode/ustring.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace reel {
namespace {

// sentencepiece replaces malformed UTF-8 with U+FFFD silently; a prompt is user input, so it is
// refused instead (ICU's converter rejects overlong forms, surrogates and truncated sequences).
bool IsValidUtf8(absl::string_view s) {
  std::vector<UChar> utf16(s.size() + 1);
  int32_t length = 0;
  UErrorCode error = U_ZERO_ERROR;
  u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &length, s.data(),
                static_cast<int32_t>(s.size()), &error);
  return U_SUCCESS(error);
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const spm_backend::Api* api,
                                               spm_backend::ModelPtr sp)
    : api_(api), sp_(std::move(sp)) {}
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept =
    default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

absl::StatusOr<SentencePieceTokenizer> SentencePieceTokenizer::Load(const std::string& model_path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    return absl::NotFoundError(absl::StrCat("tokenizer model '", model_path, "' not found"));
  }
  std::string error;
  const spm_backend::Api* api = spm_backend::LoadApi(&error);
  if (api == nullptr) return absl::FailedPreconditionError(error);
  spm_backend::ModelPtr sp(api->load(model_path, &error));
  if (sp == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model '", model_path, "' is not a sentencepiece model: ", error));
  }
  return SentencePieceTokenizer(api, std::move(sp));
}

absl::StatusOr<std::vector<int32_t>> SentencePieceTokenizer::Encode(absl::string_view text) const {
  // ICU counts in int32_t; a prompt is far below this (the limit only keeps the cast exact).
  if (text.size() > (size_t{1} << 30)) return absl::InvalidArgumentError("prompt over 1 GiB");
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("prompt is not valid UTF-8");
  std::vector<int> ids;
  std::string error;
  if (!api_->encode(*sp_, std::string_view(text.data(), text.size()), &ids, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizing the prompt: ", error));
  }
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::StatusOr<std::string> SentencePieceTokenizer::Decode(absl::Span<const int32_t> ids) const {
  const std::vector<int> v(ids.begin(), ids.end());
  for (const int id : v) {
    if (id < 0 || id >= vocab_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is outside [0, ", vocab_size(), ")"));
    }
  }
  std::string text, error;
  if (!api_->decode(*sp_, v, &text, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("decoding token ids: ", error));
  }
  return text;
}

int32_t SentencePieceTokenizer::bos_id() const { return api_->bos_id(*sp_); }
int32_t SentencePieceTokenizer::eos_id() const { return api_->eos_id(*sp_); }
int32_t SentencePieceTokenizer::pad_id() const { return api_->pad_id(*sp_); }
int32_t SentencePieceTokenizer::vocab_size() const { return api_->piece_size(*sp_); }

}  // namespace reel
