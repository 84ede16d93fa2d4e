// libsentencepiece carries its own protobuf-lite and exports it; linked beside the system
// libprotobuf (as every gRPC service is) the process crashed before main. This binary links and
// uses both: it must start, protobuf must work, and the tokenizer (behind its RTLD_DEEPBIND plugin)
// must give the same ids as python3-sentencepiece (the gemma golden's tokenizer cases).
#include <google/protobuf/timestamp.pb.h>

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pipeline/model/sentencepiece_tokenizer.h"

namespace reel {
namespace {

TEST(SentencePieceWithProtobufTest, BothLibrariesWorkInOneProcess) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer refuses RTLD_DEEPBIND, which is what keeps the two protobufs "
                  "apart; the sanitizer builds link no libprotobuf beside the tokenizer otherwise";
#endif
  google::protobuf::Timestamp t, back;
  t.set_seconds(1733300000);
  t.set_nanos(5);
  ASSERT_TRUE(back.ParseFromString(t.SerializeAsString()));
  EXPECT_EQ(back.seconds(), 1733300000);
  EXPECT_EQ(back.nanos(), 5);

  const std::string dir = REEL_GEMMA_GOLDEN;
  absl::StatusOr<SentencePieceTokenizer> tok =
      SentencePieceTokenizer::Load(dir + "/tokenizer/tokenizer.model");
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::ifstream in(dir + "/golden.json");
  const nlohmann::json golden = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(golden.is_object());
  int checked = 0;
  for (const auto& r : golden["tokenizer"]) {
    absl::StatusOr<std::vector<int32_t>> ids = tok->Encode(r["text"].get<std::string>());
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, r["ids"].get<std::vector<int32_t>>());
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace reel
