// diffusers SanaVideoPipeline.encode_prompt / _get_gemma_prompt_embeds (GEMMA2.md "Prompt").
#include "pipeline/model/sana_prompt.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/tensor/status_macros.h"

namespace reel {
namespace {

// Python's str.isspace(): bidirectional class WS, B or S, or general category Zs.
bool IsPythonSpace(UChar32 c) {
  const UCharDirection dir = u_charDirection(c);
  return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR ||
         u_charType(c) == U_SPACE_SEPARATOR;
}

absl::Status IcuError(UErrorCode e, const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("prompt: ", what, " (", u_errorName(e), ")"));
}

}  // namespace

const std::vector<std::string>& SanaVideoComplexHumanInstruction() {
  // diffusers SanaVideoPipeline.__call__'s default complex_human_instruction (a prompt: data).
  static const std::vector<std::string> kLines{
      "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual "
      "descriptions suitable for video generation. Evaluate the level of detail in the user "
      "prompt:",
      "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, "
      "textures, motion, and temporal relationships to create vivid and dynamic scenes.",
      "- If the prompt is already detailed, refine and enhance the existing details slightly "
      "without overcomplicating.",
      "Here are examples of how to transform or refine prompts:",
      "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat slowly settling into "
      "a curled position, peacefully falling asleep on a warm sunny windowsill, with gentle "
      "sunlight filtering through surrounding pots of blooming red flowers.",
      "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, "
      "featuring glowing street lamps gradually lighting up, a diverse crowd of people in "
      "colorful clothing walking past, and a double-decker bus smoothly passing by towering "
      "glass skyscrapers.",
      "Please generate only the enhanced description for the prompt below and avoid including "
      "any additional commentary or evaluations:",
      "User Prompt: ",
  };
  return kLines;
}

absl::StatusOr<std::string> PreprocessSanaPrompt(const std::string& prompt) {
  if (prompt.size() > (size_t{1} << 28)) return absl::InvalidArgumentError("prompt over 256 MiB");
  const int32_t n = static_cast<int32_t>(prompt.size());
  UErrorCode e = U_ZERO_ERROR;
  std::vector<UChar> utf16(prompt.size() + 1);
  int32_t len16 = 0;
  u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &len16, prompt.data(), n, &e);
  if (U_FAILURE(e)) return absl::InvalidArgumentError("prompt is not valid UTF-8");
  // Full lower-case mapping in the root locale, as Python's str.lower() (context-free except final
  // sigma, which both apply). Lower-casing can lengthen the text ("İ" → "i̇"): preflight first.
  const int32_t lower_len = u_strToLower(nullptr, 0, utf16.data(), len16, "", &e);
  if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e)) return IcuError(e, "lower-casing failed");
  e = U_ZERO_ERROR;
  std::vector<UChar> lower(lower_len + 1);
  u_strToLower(lower.data(), lower_len + 1, utf16.data(), len16, "", &e);
  if (U_FAILURE(e)) return IcuError(e, "lower-casing failed");

  // strip(): drop leading and trailing code points Python counts as white space.
  int32_t begin = 0, end = lower_len;
  while (begin < end) {
    int32_t i = begin;
    UChar32 c;
    U16_NEXT(lower.data(), i, end, c);
    if (!IsPythonSpace(c)) break;
    begin = i;
  }
  while (end > begin) {
    int32_t i = end;
    UChar32 c;
    U16_PREV(lower.data(), begin, i, c);
    if (!IsPythonSpace(c)) break;
    end = i;
  }
  int32_t len8 = 0;
  u_strToUTF8(nullptr, 0, &len8, lower.data() + begin, end - begin, &e);
  if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e)) return IcuError(e, "UTF-8 encoding failed");
  e = U_ZERO_ERROR;
  std::string out(len8, '\0');
  u_strToUTF8(out.data(), len8, &len8, lower.data() + begin, end - begin, &e);
  if (U_FAILURE(e) && e != U_STRING_NOT_TERMINATED_WARNING) {
    return IcuError(e, "UTF-8 encoding failed");
  }
  return out;
}

absl::StatusOr<SanaPromptTokens> TokenizeSanaPrompt(const SentencePieceTokenizer& tokenizer,
                                                    const std::string& prompt,
                                                    const SanaPromptOptions& options) {
  const int64_t msl = options.max_sequence_length;
  if (msl < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_sequence_length is ", msl, "; it must be at least 1"));
  }
  if (tokenizer.bos_id() < 0 || tokenizer.pad_id() < 0) {
    return absl::FailedPreconditionError(
        "the tokenizer model defines no BOS or no padding piece (Gemma's has both)");
  }
  REEL_ASSIGN_OR_RETURN(std::string text, PreprocessSanaPrompt(prompt));
  int64_t max_length = msl;
  if (!options.complex_human_instruction.empty()) {
    const std::string chi = absl::StrJoin(options.complex_human_instruction, "\n");
    // len(tokenizer.encode(chi)) counts the BOS the tokenizer adds.
    REEL_ASSIGN_OR_RETURN(std::vector<int32_t> chi_ids, tokenizer.Encode(chi));
    max_length = static_cast<int64_t>(chi_ids.size()) + 1 + msl - 2;
    text = chi + text;
  }
  if (max_length < msl - 1) {
    // Python's prompt_embeds[:, [0] + range(-msl + 1, 0)] would index past the start.
    return absl::InvalidArgumentError(
        absl::StrCat("the instruction prefix is too short for max_sequence_length ", msl,
                     " (sequence of ", max_length, " tokens)"));
  }
  REEL_ASSIGN_OR_RETURN(std::vector<int32_t> pieces, tokenizer.Encode(text));
  SanaPromptTokens t;
  // BOS, then as many pieces as fit (truncation keeps room for BOS), then right padding.
  t.ids.push_back(tokenizer.bos_id());
  const int64_t kept = std::min<int64_t>(static_cast<int64_t>(pieces.size()), max_length - 1);
  t.ids.insert(t.ids.end(), pieces.begin(), pieces.begin() + std::max<int64_t>(kept, 0));
  t.attention_mask.assign(t.ids.size(), 1);
  t.ids.resize(max_length, tokenizer.pad_id());
  t.attention_mask.resize(max_length, 0);
  // select_index = [0] + list(range(-msl + 1, 0)).
  t.selected.push_back(0);
  for (int64_t k = -msl + 1; k < 0; ++k) t.selected.push_back(max_length + k);
  return t;
}

absl::StatusOr<SanaCaption> EncodeSanaPrompt(const Gemma2Encoder& encoder,
                                             const SentencePieceTokenizer& tokenizer,
                                             const std::string& prompt,
                                             const SanaPromptOptions& options) {
  REEL_ASSIGN_OR_RETURN(SanaPromptTokens t, TokenizeSanaPrompt(tokenizer, prompt, options));
  REEL_ASSIGN_OR_RETURN(Tensor all, encoder.Forward(t.ids, t.attention_mask));
  const int64_t rows = static_cast<int64_t>(t.selected.size()), hidden = all.dim(1);
  SanaCaption c;
  REEL_ASSIGN_OR_RETURN(c.hidden, Tensor::Empty({rows, hidden}));
  std::vector<float> mask(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = t.selected[r];
    std::memcpy(c.hidden.data<float>() + r * hidden, all.data<float>() + src * hidden,
                hidden * sizeof(float));
    mask[r] = static_cast<float>(t.attention_mask[src]);
  }
  REEL_ASSIGN_OR_RETURN(c.mask, Tensor::FromVector({rows}, mask));
  return c;
}

}  // namespace reel
