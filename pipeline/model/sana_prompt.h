#pragma once
// SANA-Video's prompt processing (diffusers SanaVideoPipeline.encode_prompt, GEMMA2.md "Prompt"):
// lower-case + strip, the complex-human-instruction (CHI) prefix, Gemma tokenization with BOS,
// truncation and right padding to num_chi_tokens + max_sequence_length - 2, the Gemma-2 forward,
// and the selection of the BOS row plus the last max_sequence_length - 1 rows.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/model/gemma2_encoder.h"
#include "pipeline/model/sentencepiece_tokenizer.h"
#include "pipeline/tensor/tensor.h"

namespace reel {

// The official pipeline's default `complex_human_instruction` (8 lines, joined with "\n").
const std::vector<std::string>& SanaVideoComplexHumanInstruction();

struct SanaPromptOptions {
  // Empty: no prefix, the sequence is max_sequence_length long (what the pipeline does for the
  // negative prompt). The positive prompt's default is SanaVideoComplexHumanInstruction().
  std::vector<std::string> complex_human_instruction;
  int max_sequence_length = 300;
};

// _text_preprocessing with clean_caption=False: Python's str.lower().strip() (full Unicode lower
// case, e.g. "İ" → "i̇", final sigma; Unicode white space), via ICU.
absl::StatusOr<std::string> PreprocessSanaPrompt(const std::string& prompt);

// The tokenizer half of EncodeSanaPrompt, for tests and for callers that cache embeddings.
struct SanaPromptTokens {
  std::vector<int32_t> ids;             // (max_length_all): BOS, tokens, pad_id padding
  std::vector<int32_t> attention_mask;  // (max_length_all): 1 = token, 0 = padding
  // (max_sequence_length) positions of `ids` kept: 0, then the last max_sequence_length - 1.
  std::vector<int64_t> selected;
};
absl::StatusOr<SanaPromptTokens> TokenizeSanaPrompt(const SentencePieceTokenizer& tokenizer,
                                                    const std::string& prompt,
                                                    const SanaPromptOptions& options);

struct SanaCaption {
  Tensor hidden;  // (max_sequence_length, hidden_size) f32
  Tensor mask;    // (max_sequence_length) f32 of 0/1: the DiT's caption mask
};
// TokenizeSanaPrompt, the encoder over all max_length_all tokens, then the selected rows of the
// hidden states and of the mask. Invalid UTF-8 or max_sequence_length < 1 are errors.
absl::StatusOr<SanaCaption> EncodeSanaPrompt(const Gemma2Encoder& encoder,
                                             const SentencePieceTokenizer& tokenizer,
                                             const std::string& prompt,
                                             const SanaPromptOptions& options);

}  // namespace reel
