#pragma once
// libsentencepiece behind a private plugin (libreel_spm_backend.so, sentencepiece_backend.cc).
//
// Why a plugin: Debian's libsentencepiece.so.0 carries its own copy of protobuf-lite and exports
// its symbols (1,602 of them). In a process that also links the system libprotobuf (every gRPC
// service) the two interpose and libprotobuf crashes in its static initialisers. The plugin is
// dlopen'ed with RTLD_LOCAL | RTLD_DEEPBIND, so sentencepiece binds to its own protobuf copy and
// nothing of it reaches the global symbol scope. (Its header also declares an `absl::string_view`
// of its own that collides with Abseil's: std types only on this interface.)
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace reel::spm_backend {

struct Model;  // a SentencePieceProcessor, inside the plugin

// The plugin's entry points (one table, looked up by name; the plugin is built by this build, with
// this compiler, so std types cross the boundary safely).
struct Api {
  int version;  // kApiVersion
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
inline constexpr int kApiVersion = 1;
inline constexpr const char kApiSymbol[] = "reel_spm_backend_api";
inline constexpr const char kPluginName[] = "libreel_spm_backend.so";

// The plugin's table, loaded once per process; nullptr and `error` (where it looked, what failed)
// when it cannot be loaded. Looks in $REEL_SPM_BACKEND (a file), next to the executable, in
// <exe dir>/../lib/reel/, then where this build wrote it.
const Api* LoadApi(std::string* error);

struct ModelDeleter {
  void operator()(Model* m) const;
};
using ModelPtr = std::unique_ptr<Model, ModelDeleter>;

}  // namespace reel::spm_backend
