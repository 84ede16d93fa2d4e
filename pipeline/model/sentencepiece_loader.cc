// reel::spm_backend's functions, forwarded to the reel_spm_backend module loaded on first use
// (sentencepiece_backend.h says why it is a module). Where the module is looked for, in order:
// $REEL_SPM_BACKEND; next to the running executable; the build tree's copy (REEL_SPM_BACKEND_PATH).
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/model/sentencepiece_backend.h"

namespace reel::spm_backend {
namespace {

constexpr char kModuleName[] = "reel_spm_backend.so";

std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("REEL_SPM_BACKEND"); env != nullptr && *env != '\0') {
    paths.push_back(env);
  }
  char exe[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    paths.push_back(dir + "/" + kModuleName);
  }
  paths.push_back(REEL_SPM_BACKEND_PATH);
  return paths;
}

// The sanitizer runtimes refuse RTLD_DEEPBIND; sanitized builds are the unit tests, which link no
// gRPC, so nothing clashes there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

struct Loaded {
  const Api* api = nullptr;
  std::string error;
};

const Loaded& Module() {
  static const Loaded loaded = [] {
    Loaded l;
    std::string tried;
    for (const std::string& path : Candidates()) {
      if (::access(path.c_str(), R_OK) != 0) {
        tried += " " + path;
        continue;
      }
      // Never unloaded: models hold pointers into it for the life of the process.
      void* handle = ::dlopen(path.c_str(), kDlopenFlags);
      if (handle == nullptr) {
        l.error = std::string("cannot load the sentencepiece module: ") + ::dlerror();
        return l;
      }
      using Entry = const Api* (*)();
      auto entry = reinterpret_cast<Entry>(::dlsym(handle, "reel_spm_backend_api"));
      if (entry == nullptr || entry()->version != kApiVersion) {
        l.error = path + " is not a reel_spm_backend module of this build";
        return l;
      }
      l.api = entry();
      return l;
    }
    l.error = "no sentencepiece module (" + std::string(kModuleName) + ") found; tried" + tried +
              " (set REEL_SPM_BACKEND)";
    return l;
  }();
  return loaded;
}

}  // namespace

void ModelDeleter::operator()(Model* m) const {
  if (m != nullptr && Module().api != nullptr) Module().api->free(m);
}

ModelPtr Load(const std::string& path, std::string* error) {
  const Loaded& module = Module();
  if (module.api == nullptr) {
    *error = module.error;
    return nullptr;
  }
  return ModelPtr(module.api->load(path, error));
}

// A Model exists only if the module loaded, so the calls below have an api.
bool Encode(const Model& m, std::string_view text, std::vector<int>* ids, std::string* error) {
  return Module().api->encode(m, text, ids, error);
}
bool Decode(const Model& m, const std::vector<int>& ids, std::string* text, std::string* error) {
  return Module().api->decode(m, ids, text, error);
}
int BosId(const Model& m) { return Module().api->bos_id(m); }
int EosId(const Model& m) { return Module().api->eos_id(m); }
int PadId(const Model& m) { return Module().api->pad_id(m); }
int PieceSize(const Model& m) { return Module().api->piece_size(m); }

}  // namespace reel::spm_backend
