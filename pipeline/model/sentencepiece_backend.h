#pragma once
// The only code that includes libsentencepiece's header. That header declares its own
// `absl::string_view` (= std::string_view), which collides with Abseil's, so this pair of files
// uses std types only and sentencepiece_tokenizer.cc (Abseil) talks to it through this interface.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace reel::spm_backend {

struct Model;
struct ModelDeleter {
  void operator()(Model* m) const;
};
using ModelPtr = std::unique_ptr<Model, ModelDeleter>;

// nullptr and `error` set on failure.
ModelPtr Load(const std::string& path, std::string* error);
bool Encode(const Model& m, std::string_view text, std::vector<int>* ids, std::string* error);
bool Decode(const Model& m, const std::vector<int>& ids, std::string* text, std::string* error);
int BosId(const Model& m);
int EosId(const Model& m);
int PadId(const Model& m);
int PieceSize(const Model& m);

}  // namespace reel::spm_backend
