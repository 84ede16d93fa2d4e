#include "pipeline/tensor/safetensors.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "pipeline/tensor/ops.h"

namespace reel {
namespace {

// Builds a file image: 8-byte length + header + data.
std::string Image(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(SafetensorsTest, WriteThenReadRoundTripsAllDtypes) {
  const std::string path =
      ::testing::TempDir() + "/rt_" + std::to_string(getpid()) + ".safetensors";
  Tensor a = *Tensor::FromVector({2, 3}, std::vector<float>{1, -2, 3.5f, 0, 1e-3f, 65504});
  Tensor a_t = *a.Permute({1, 0});  // a strided view must be written in logical order
  Tensor h = *ops::Cast(a, DType::kF16);
  Tensor b = *ops::Cast(a, DType::kBF16);
  ASSERT_TRUE(
      WriteSafetensors(path, {{"a", a}, {"a_t", a_t}, {"h", h}, {"b", b}}, {{"k", "v"}}).ok());
  absl::StatusOr<SafetensorsFile> f = ReadSafetensors(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->metadata.at("k"), "v");
  EXPECT_EQ(*f->tensors.at("a").ToVector(), *a.ToVector());
  EXPECT_EQ(*f->tensors.at("a_t").ToVector(), *a_t.ToVector());
  EXPECT_EQ(f->tensors.at("h").dtype(), DType::kF16);
  EXPECT_EQ(*f->tensors.at("h").ToVector(), *h.ToVector());
  EXPECT_EQ(*f->tensors.at("b").ToVector(), *b.ToVector());
  std::remove(path.c_str());
}

TEST(SafetensorsTest, ParsesMinimalValidImage) {
  std::string data(8, '\0');
  const float v[2] = {1.5f, -2.0f};
  std::memcpy(data.data(), v, 8);
  absl::StatusOr<SafetensorsFile> f =
      ParseSafetensors(Image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->tensors.at("x").ToVector(), (std::vector<float>{1.5f, -2.0f}));
}

// Found by the fuzzer: a header whose length is odd puts 16-bit data at an odd address.
TEST(SafetensorsTest, MisalignedDataIsReadCorrectly) {
  std::string header = R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  header += ' ';  // 57 bytes: data starts at offset 65
  ASSERT_EQ(header.size() % 2, 1u);
  const std::string data("\x00\x3c\x00\xc0", 4);  // f16 1.0 and -2.0, little-endian
  absl::StatusOr<SafetensorsFile> f = ParseSafetensors(Image(header, data));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->tensors.at("x").raw_data()) % 2, 0u);
  EXPECT_EQ(*f->tensors.at("x").ToVector(), (std::vector<float>{1.0f, -2.0f}));
}

struct BadCase {
  const char* what;
  std::string bytes;
  const char* message_part;
};

TEST(SafetensorsTest, RejectsMalformedFilesWithClearErrors) {
  const std::string d8(8, '\0');
  std::vector<BadCase> cases = {
      {"truncated length", std::string(5, '\0'), "truncated"},
      {"header beyond file", Image("{}", "").substr(0, 8) + "{", "exceeds the file"},
      {"bad json", Image("{not json", d8), "not a JSON object"},
      {"not an object", Image("[1,2]", d8), "not a JSON object"},
      {"unknown dtype", Image(R"({"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", d8),
       "unsupported dtype"},
      {"offsets out of range",
       Image(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8),
       "truncated: tensor 'x' ends at byte 16 of the data section, which has only 8 bytes"},
      {"begin after end", Image(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", d8),
       "reversed"},
      {"size mismatch", Image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", d8),
       "bytes for shape"},
      {"overlap",
       Image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             d8),
       "overlap"},
      {"negative dim", Image(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d8),
       "non-negative"},
      {"missing field", Image(R"({"x":{"dtype":"F32","shape":[1]}})", d8), "data_offsets"},
      {"metadata not strings", Image(R"({"__metadata__":{"a":1}})", d8), "not a string"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<SafetensorsFile> f = ParseSafetensors(c.bytes);
    ASSERT_FALSE(f.ok()) << c.what;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(std::string(f.status().message()).find(c.message_part), std::string::npos)
        << c.what << ": " << f.status();
  }
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadSafetensors("/nonexistent/x.safetensors").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace reel
