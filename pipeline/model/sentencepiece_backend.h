#pragma once
// The only code that includes libsentencepiece's header. That header declares its own
// `absl::string_view` (= std::string_view), which collides with Abseil's, so this pair of files
// uses std types only and sentencepiece_tokenizer.cc (Abseil) talks to it through this interface.
//
// sentencepiece_backend.cc is built as its own module (reel_spm_backend.so) that
// sentencepiece_loader.cc loads on first use with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): Debian's
// libsentencepiece embeds protobuf 3.14 and exports its symbols, which clash with the system
// libprotobuf 3.21 that every gRPC binary (reel, the worker) links; linked into one executable the
// two crash it during static initialization. Inside the module libsentencepiece binds to its own
// copy. The functions below are the loader's, forwarding through the module's Api table.
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

// The module's C entry point `reel_spm_backend_api` returns this table (kApiVersion must match).
constexpr int kApiVersion = 1;
struct Api {
  int version;
  Model* (*load)(const std::string& path, std::string* error);
  void (*free)(Model* m);
  bool (*encode)(const Model& m, std::string_view text, std::vector<int>* ids, std::string* error);
  bool (*decode)(const Model& m, const std::vector<int>& ids, std::string* text,
                 std::string* error);
  int (*bos_id)(const Model& m);
  int (*eos_id)(const Model& m);
  int (*pad_id)(const Model& m);
  int (*piece_size)(const Model& m);
};

}  // namespace reel::spm_backend
