// The plugin libreel_spm_backend.so (see sentencepiece_backend.h): the only code that includes
// libsentencepiece's header.
#include "pipeline/model/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

namespace reel::spm_backend {

struct Model {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

Model* Load(const std::string& path, std::string* error) {
  auto m = std::make_unique<Model>();
  const sentencepiece::util::Status s = m->sp.Load(path);
  if (!s.ok()) {
    *error = s.ToString();
    return nullptr;
  }
  return m.release();  // owned by the caller's ModelPtr, freed through Free
}

void Free(Model* m) { std::unique_ptr<Model> owned(m); }

bool Encode(const Model& m, std::string_view text, std::vector<int>* ids, std::string* error) {
  const sentencepiece::util::Status s = m.sp.Encode(text, ids);
  if (!s.ok()) *error = s.ToString();
  return s.ok();
}

bool Decode(const Model& m, const std::vector<int>& ids, std::string* text, std::string* error) {
  const sentencepiece::util::Status s = m.sp.Decode(ids, text);
  if (!s.ok()) *error = s.ToString();
  return s.ok();
}

int BosId(const Model& m) { return m.sp.bos_id(); }
int EosId(const Model& m) { return m.sp.eos_id(); }
int PadId(const Model& m) { return m.sp.pad_id(); }
int PieceSize(const Model& m) { return m.sp.GetPieceSize(); }

constexpr Api kApi = {kApiVersion, Load, Free, Encode, Decode, BosId, EosId, PadId, PieceSize};

}  // namespace
}  // namespace reel::spm_backend

extern "C" __attribute__((visibility("default"))) const reel::spm_backend::Api*
reel_spm_backend_api() {
  return &reel::spm_backend::kApi;
}
