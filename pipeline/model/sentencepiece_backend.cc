// The reel_spm_backend module (see sentencepiece_backend.h for why it is loaded apart): the only
// code linked with libsentencepiece.
#include "pipeline/model/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

namespace reel::spm_backend {

struct Model {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

Model* LoadModel(const std::string& path, std::string* error) {
  auto m = std::make_unique<Model>();
  const sentencepiece::util::Status s = m->sp.Load(path);
  if (!s.ok()) {
    *error = s.ToString();
    return nullptr;
  }
  return m.release();  // owned by the loader's ModelPtr, freed through Api::free
}

void FreeModel(Model* m) { delete m; }

bool EncodeText(const Model& m, std::string_view text, std::vector<int>* ids, std::string* error) {
  const sentencepiece::util::Status s = m.sp.Encode(text, ids);
  if (!s.ok()) *error = s.ToString();
  return s.ok();
}

bool DecodeIds(const Model& m, const std::vector<int>& ids, std::string* text, std::string* error) {
  const sentencepiece::util::Status s = m.sp.Decode(ids, text);
  if (!s.ok()) *error = s.ToString();
  return s.ok();
}

int Bos(const Model& m) { return m.sp.bos_id(); }
int Eos(const Model& m) { return m.sp.eos_id(); }
int Pad(const Model& m) { return m.sp.pad_id(); }
int Pieces(const Model& m) { return m.sp.GetPieceSize(); }

}  // namespace
}  // namespace reel::spm_backend

extern "C" __attribute__((visibility("default"))) const reel::spm_backend::Api*
reel_spm_backend_api() {
  using namespace reel::spm_backend;  // NOLINT(build/namespaces): the table lists them all
  static const Api api = {kApiVersion, &LoadModel, &FreeModel, &EncodeText, &DecodeIds,
                          &Bos,        &Eos,       &Pad,       &Pieces};
  return &api;
}
