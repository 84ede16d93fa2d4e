#include "pipeline/model/sentencepiece_backend.h"

#include <sentencepiece_processor.h>

namespace reel::spm_backend {

struct Model {
  sentencepiece::SentencePieceProcessor sp;
};

void ModelDeleter::operator()(Model* m) const { delete m; }

ModelPtr Load(const std::string& path, std::string* error) {
  ModelPtr m(
      new Model);  // the custom deleter pairs with this new (opaque type across the boundary)
  const sentencepiece::util::Status s = m->sp.Load(path);
  if (!s.ok()) {
    *error = s.ToString();
    return nullptr;
  }
  return m;
}

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

}  // namespace reel::spm_backend
