// Finds and opens the sentencepiece plugin (sentencepiece_backend.h says why it is one).
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/model/sentencepiece_backend.h"

namespace reel::spm_backend {
namespace {

std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("REEL_SPM_BACKEND"); env != nullptr && *env != '\0') {
    paths.push_back(env);
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    paths.push_back((exe.parent_path() / kPluginName).string());
    paths.push_back((exe.parent_path() / ".." / "lib" / "reel" / kPluginName).string());
  }
#ifdef REEL_SPM_BACKEND_BUILD_PATH
  paths.push_back(REEL_SPM_BACKEND_BUILD_PATH);
#endif
  return paths;
}

// RTLD_DEEPBIND keeps sentencepiece's bundled protobuf bound to itself; AddressSanitizer refuses
// it, and its builds (unit tests only) link no libprotobuf, so RTLD_LOCAL alone suffices there.
int OpenFlags() {
#if defined(__SANITIZE_ADDRESS__)
  return RTLD_NOW | RTLD_LOCAL;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return RTLD_NOW | RTLD_LOCAL;
#else
  return RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
#else
  return RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
}

struct Loaded {
  const Api* api = nullptr;
  std::string error;
};

Loaded Open() {
  Loaded result;
  std::string tried;
  for (const std::string& path : Candidates()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      tried += "\n  " + path + ": not found";
      continue;
    }
    // Never closed: the plugin lives as long as the process (tokenizers may outlive any owner).
    void* handle = ::dlopen(path.c_str(), OpenFlags());
    if (handle == nullptr) {
      const char* why = ::dlerror();
      tried += "\n  " + path + ": " + (why != nullptr ? why : "dlopen failed");
      continue;
    }
    using Entry = const Api* (*)();
    auto entry = reinterpret_cast<Entry>(::dlsym(handle, kApiSymbol));
    const Api* api = entry != nullptr ? entry() : nullptr;
    if (api == nullptr || api->version != kApiVersion) {
      tried += "\n  " + path + ": not a reel sentencepiece plugin of this version";
      continue;
    }
    result.api = api;
    return result;
  }
  result.error = std::string("cannot load the sentencepiece plugin ") + kPluginName +
                 " (set REEL_SPM_BACKEND to its path); tried:" + tried;
  return result;
}

}  // namespace

const Api* LoadApi(std::string* error) {
  static const Loaded loaded = Open();  // once per process, thread-safe
  if (loaded.api == nullptr && error != nullptr) *error = loaded.error;
  return loaded.api;
}

void ModelDeleter::operator()(Model* m) const {
  if (m != nullptr) LoadApi(nullptr)->free(m);
}

}  // namespace reel::spm_backend
