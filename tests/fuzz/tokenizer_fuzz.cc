// libFuzzer target for the tokenizer: tokenizer.json (a model directory's file) and the prompt it
// encodes (a client's text). Input: tokenizer JSON, a NUL byte, then the prompt; without a NUL byte
// the whole input is the prompt for the tiny model's tokenizer. Every id must be inside the
// vocabulary and the output exactly max_tokens long (checked here: a wrong id would index out of
// the embedding table later).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pipeline/model/sana_prompt.h"
#include "pipeline/model/tokenizer.h"

namespace {

void Check(const reel::Tokenizer& t, const std::string& prompt) {
  const reel::TokenizedPrompt p = t.Encode(prompt);
  if (static_cast<int>(p.ids.size()) != t.max_tokens() ||
      static_cast<int>(p.mask.size()) != t.max_tokens()) {
    std::abort();
  }
  for (int id : p.ids) {
    if (id < 0 || id >= t.vocab_size()) std::abort();
  }
  (void)t.unknown_words(prompt);
}

const reel::Tokenizer& Tiny() {
  static const reel::Tokenizer* tiny = [] {
    absl::StatusOr<reel::Tokenizer> t =
        reel::Tokenizer::Load(REEL_SOURCE_DIR "/models/reel-tiny/tokenizer.json");
    if (!t.ok()) std::abort();
    return new reel::Tokenizer(*std::move(t));  // lives for the process, like the fuzzer
  }();
  return *tiny;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  if (nul == std::string::npos) {
    Check(Tiny(), input);
    // SANA-Video's prompt preprocessing (ICU lower-casing and stripping of arbitrary bytes): valid
    // UTF-8 in gives valid UTF-8 out, anything else an error.
    absl::StatusOr<std::string> pre = reel::PreprocessSanaPrompt(input);
    if (pre.ok() && !reel::PreprocessSanaPrompt(*pre).ok()) std::abort();
    return 0;
  }
  const std::string prompt = input.substr(nul + 1);
  absl::StatusOr<reel::Tokenizer> t = reel::Tokenizer::FromJson(input.substr(0, nul), "fuzz");
  if (t.ok()) Check(*t, prompt);
  return 0;
}
