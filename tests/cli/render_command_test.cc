// `reel render` and `reel models` as a user runs them: the built binary in a child process. Bad
// arguments give exit code 2 and one line; a render with a random-weight model (always available)
// and with models/reel-tiny (when it has been trained) produces files the real ffprobe accepts.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/generate/random_model.h"
#include "pipeline/generate/renderer.h"
#include "pipeline/tensor/device_memory.h"
#include "tests/encoder/media_test_util.h"

extern char** environ;

namespace reel {
namespace {

namespace fs = std::filesystem;
using ::reel::testing::DecodeRgb;
using ::reel::testing::Probe;
using ::reel::testing::ReadFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Shell-quotes one argument.
std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) / absl::StrCat("reel_cli_", getpid()));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "models");
    RandomModelOptions options;
    options.width = 32;
    options.height = 32;
    options.frames = 8;
    options.fps = 8;
    options.steps = 2;
    ASSERT_TRUE(WriteRandomModel((*dir_ / "models" / "random").string(), options).ok());
  }
  static void TearDownTestSuite() {
    if (std::getenv("REEL_KEEP_TEST_MEDIA") == nullptr) fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string ModelDir() { return (*dir_ / "models" / "random").string(); }
  static std::string Out(const std::string& name) { return (*dir_ / name).string(); }

  // Runs `reel <args>` with stdout and stderr captured, in the test's temp dir.
  static ProcessResult Reel(const std::vector<std::string>& args) {
    static std::atomic<int> counter{0};
    const int n = counter++;
    const std::string out_path = Out(absl::StrCat("stdout_", n));
    const std::string err_path = Out(absl::StrCat("stderr_", n));
    std::string command = Quote(REEL_BINARY);
    for (const std::string& a : args) absl::StrAppend(&command, " ", Quote(a));
    absl::StrAppend(&command, " >", Quote(out_path), " 2>", Quote(err_path));
    const int status = std::system(command.c_str());
    ProcessResult run;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    return run;
  }

  static fs::path* dir_;
};

fs::path* CliTest::dir_ = nullptr;

TEST_F(CliTest, BadArgumentsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"render"},
      {"render", ""},
      {"render", "a red circle", "--bogus", "1"},
      {"render", "a red circle", "--steps", "many"},
      {"render", "a red circle", "--fps", "fast"},
      {"render", "a red circle", "--seed", "-3"},
      {"render", "a red circle", "--frames"},
      {"render", "a red circle", "moving", "right"},
      {"render", "a red circle", "-o", Out("clip.avi")},
      {"render", "a red circle", "--format", "mkv"},
      {"render", "a red circle", "--format", "gif", "-o", Out("clip.mp4")},
      {"render", "a red circle", "--frames", "8", "--seconds", "1"},
      {"render", "a red circle", "--frames", "8", "-o", Out("still.png")},
      {"render", "a red circle", "-o", Out("no/such/dir/clip.mp4")},
      {"render", "a red circle", "--model", Out("no-model-here")},
      {"render", "a red circle", "--model", ModelDir(), "--width", "33"},
      {"render", "a red circle", "--model", ModelDir(), "--sampler", "magic"},
      {"render", "a red circle", "--model", ModelDir(), "--cache", "teacache"},
      {"render", "a red circle", "--model", ModelDir(), "--cache", "cg-taylor", "--cache-threshold",
       "2"},
      {"render", "a red circle", "--cache-interval", "often"},
      {"eval", "--suite", "--model", ModelDir(), "--cache-sweep", "cg-taylor@abc"},
      {"models", "--bogus", "1"},
      {"render", "a red circle", "--ranks", "0"},
      {"render", "a red circle", "--ranks", "2", "--group_timeout", "0"},
      {"render", "a red circle", "--rank", "1", "--ranks", "2"},
      {"render", "a red circle", "--rank", "1", "--rendezvous", Out("")},
      {"render", "a red circle", "--ranks", "3", "--cfg_parallel"},
      {"render", "a red circle", "--model", ModelDir(), "--device", "gpu"},
      {"render", "a red circle", "--model", ModelDir(), "--device", "cuda:x"},
      {"render", "a red circle", "--model", ModelDir(), "--precision", "fp8"},
      {"render", "a red circle", "--model", ModelDir(), "--device", "cpu", "--precision", "bf16"},
  };
  // Each run starts the binary (about a second of dynamic loading here), so run them side by side.
  std::vector<ProcessResult> runs(cases.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases.size(); ++i) {
    threads.emplace_back([&, i] { runs[i] = Reel(cases[i]); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<std::string>& args = cases[i];
    const ProcessResult& run = runs[i];
    const std::string shown = absl::StrJoin(args, " ");
    EXPECT_EQ(run.exit_code, 2) << shown << "\n" << run.err;
    EXPECT_THAT(run.err, StartsWith("reel " + args[0] + ": ")) << shown;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << shown << ": " << run.err;
  }
  EXPECT_FALSE(fs::exists(Out("clip.mp4")));
}

TEST_F(CliTest, RenderWithACacheSaysWhatItSkipped) {
  const std::string path = Out("cached.mp4");
  const ProcessResult run =
      Reel({"render", "a red circle", "--model", ModelDir(), "-o", path, "--steps", "8", "--seed",
            "3", "--cache", "taylorseer", "--cache-interval", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("feature cache: taylorseer interval=2 order=1 warmup=3"));
  // Warm-up 0-2, then 3, 5 and the final 7 run every block: 2 of 8 steps skip 1 of 2 blocks, in
  // each of the 2 video blocks.
  EXPECT_THAT(run.out, HasSubstr("cache: 4 of 32 transformer-block forwards skipped (12.5%)"));
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->frames, 8);
}

// The official diffusers layout (tools/reference/write_sana_checkpoint.py, ctest fixture
// sana_checkpoint): a bidirectional model with Gemma-2 and the Wan VAE, sharded bf16 transformer.
std::string SanaDir(const std::string& variant) {
  return std::string(REEL_SANA_CHECKPOINT) + "/" + variant;
}

TEST_F(CliTest, RendersTheOfficialCheckpointLayout) {
  const std::string path = Out("sana.mp4");
  const ProcessResult run =
      Reel({"render", "A red circle moves to the right", "--model", SanaDir("good"), "-o", path,
            "--width", "64", "--height", "48", "--frames", "9", "--steps", "3", "--seed", "5"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->width, 64);
  EXPECT_EQ(probe->height, 48);
  EXPECT_EQ(probe->frames, 9);  // 3 latent frames: 1 + 4·(3 − 1)
  // The Wan VAE makes 1 + 4k frames; anything else is refused before any compute.
  const ProcessResult eight = Reel({"render", "a cat", "--model", SanaDir("good"), "-o",
                                    Out("sana8.mp4"), "--frames", "8", "--steps", "1"});
  EXPECT_EQ(eight.exit_code, 2) << eight.err;
  EXPECT_THAT(eight.err, HasSubstr("1 + 4·k frames, e.g. 9"));
  const ProcessResult long_video = Reel({"render", "a cat", "--model", SanaDir("good"), "-o",
                                         Out("sana_long.mp4"), "--frames", "4097", "--steps", "1"});
  EXPECT_EQ(long_video.exit_code, 2) << long_video.err;
  EXPECT_THAT(long_video.err, HasSubstr("rope_max_seq_len = 1024"));
}

TEST_F(CliTest, ModelsDescribesTheOfficialCheckpoint) {
  const ProcessResult run = Reel({"models", SanaDir("good")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("64x64, 81 frames @ 16 fps"));
  EXPECT_THAT(run.out, HasSubstr("4093"));  // max frames: 1 + 4·(1024 − 1)
  EXPECT_THAT(run.out, HasSubstr("sampling: bidirectional"));
  const ProcessResult tiny = Reel({"models", ModelDir()});
  ASSERT_EQ(tiny.exit_code, 0) << tiny.err;
  EXPECT_THAT(tiny.out, HasSubstr("sampling: block-autoregressive"));
}

TEST_F(CliTest, BrokenOfficialCheckpointsFailWithOneClearMessage) {
  const std::pair<const char*, const char*> cases[] = {
      {"wrong_shape", "weight 'proj_out.weight': shape [8,64], expected [16,64]"},
      {"missing_tensor", "weight 'proj_out.bias' missing (expected shape [16])"},
      {"truncated_shard", "truncated: tensor"},
      {"missing_shard", "which is missing"},
      {"unknown_field", "unknown key 'use_magic_attention'"},
  };
  for (const auto& [variant, message] : cases) {
    const ProcessResult run = Reel({"render", "a cat", "--model", SanaDir(variant), "-o",
                                    Out(absl::StrCat(variant, ".mp4")), "--steps", "1"});
    EXPECT_NE(run.exit_code, 0) << variant;
    EXPECT_THAT(run.err, HasSubstr(message)) << variant;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << variant << ": " << run.err;
    EXPECT_FALSE(fs::exists(Out(absl::StrCat(variant, ".mp4")))) << variant;
  }
}

TEST_F(CliTest, EvalComparesCacheSettingsWithNoCache) {
  const ProcessResult run = Reel({"eval", "--suite", "--model", ModelDir(), "--limit", "1",
                                  "--steps", "6", "--cache-sweep", "cg-taylor@0,taylorseer@2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Threshold 0 never skips: the render is the uncached one, bit for bit.
  EXPECT_THAT(run.out, HasSubstr("| cg-taylor threshold=0 order=1 first_block_order=1 warmup=3 | "
                                 "0.0% | 1.00x |"));
  EXPECT_THAT(run.out, HasSubstr("| identical (identical) | 1.0000 |"));
  EXPECT_THAT(run.out, HasSubstr("| taylorseer interval=2 order=1 warmup=3 | "));
}

// Without a usable GPU, --device cuda is one clear line and exit 1 (the command was right, the
// machine cannot run it); auto says it chose the CPU and why.
TEST_F(CliTest, DeviceChoiceIsExplained) {
  if (CheckDeviceUsable(Device::Cuda(0)).ok()) GTEST_SKIP() << "a GPU is usable here";
  const ProcessResult cuda = Reel(
      {"render", "a red circle", "--model", ModelDir(), "--device", "cuda", "-o", Out("cuda.mp4")});
  EXPECT_EQ(cuda.exit_code, 1) << cuda.err;
  EXPECT_THAT(cuda.err, StartsWith("reel render: cuda:0 requested, but CUDA is not usable here: "));
  EXPECT_EQ(std::count(cuda.err.begin(), cuda.err.end(), '\n'), 1) << cuda.err;
  EXPECT_FALSE(fs::exists(Out("cuda.mp4")));
  const ProcessResult shown = Reel({"render", "a red circle", "--model", ModelDir(), "--frames",
                                    "8", "--seed", "1", "-o", Out("auto2.mp4")});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("compute: cpu, f32 (auto: CUDA not usable, "));
  EXPECT_THAT(shown.out, HasSubstr("transformer cpu (f32), text encoder cpu, vae cpu"));
}

TEST_F(CliTest, HelpExitsZero) {
  const ProcessResult run = Reel({"render", "--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("usage: reel render"));
}

TEST_F(CliTest, RendersAVideoThatFfprobeAccepts) {
  const std::string path = Out("clip.mp4");
  const std::string sheet = Out("sheet.png");
  const ProcessResult run = Reel({"render", "a red circle moving right", "--model", ModelDir(),
                                  "-o", path, "--steps", "1", "--seed", "5", "--preview", sheet});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_THAT(run.out, HasSubstr("seed 5"));
  EXPECT_THAT(run.out, HasSubstr("wrote " + path + " (video/mp4, 8 frames, 32x32"));
  EXPECT_THAT(run.out, HasSubstr("render:")) << "progress lines when stdout is not a terminal";
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, "h264");
  EXPECT_EQ(probe->width, 32);
  EXPECT_EQ(probe->height, 32);
  EXPECT_EQ(probe->frames, 8);
  EXPECT_NEAR(probe->duration_s, 1.0, 0.07);
  EXPECT_EQ(probe->tags.count("prompt") ? probe->tags.at("prompt") : "",
            "a red circle moving right");
  EXPECT_EQ(probe->tags.count("seed") ? probe->tags.at("seed") : "", "5");
  // The contact sheet: 8 tiles in a 3x3 grid, each 32x32 frame shown at 6x (192 px).
  const auto sheet_probe = Probe(sheet);
  ASSERT_TRUE(sheet_probe.ok()) << sheet_probe.status();
  EXPECT_EQ(sheet_probe->codec_name, "png");
  EXPECT_EQ(sheet_probe->width, 4 + 3 * (192 + 4));
  for (const auto& entry : fs::directory_iterator(*dir_)) {
    EXPECT_THAT(entry.path().string(), ::testing::Not(HasSubstr(".partial-")));
  }
}

TEST_F(CliTest, SameSeedSameImageOtherSeedOtherImage) {
  const std::string a = Out("a.png"), b = Out("b.png"), c = Out("c.png");
  for (const auto& [path, seed] : {std::pair{a, "11"}, std::pair{b, "11"}, std::pair{c, "12"}}) {
    const ProcessResult run = Reel({"render", "a blue square", "--model", ModelDir(), "-o", path,
                                    "--seed", seed, "--steps", "1", "--quiet"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, StartsWith("wrote " + path + " (image/png, 1 frame, 32x32"));
    EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << "--quiet: one line";
  }
  const auto probe = Probe(a);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, "png");
  EXPECT_EQ(*DecodeRgb(a), *DecodeRgb(b));
  EXPECT_NE(*DecodeRgb(a), *DecodeRgb(c));
}

TEST_F(CliTest, SecondsBecomeWholeBlocks) {
  RendererOptions options;
  options.threads = 1;
  auto renderer = LoadRenderer(ModelDir(), options);
  ASSERT_TRUE(renderer.ok()) << renderer.status();
  const int block = (*renderer)->info().temporal_factor;
  const std::string path = Out("seconds.webm");
  const ProcessResult run = Reel({"render", "a green dot", "--model", ModelDir(), "-o", path,
                                  "--seconds", "1.1", "--fps", "8", "--steps", "1", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const int wanted = 9;  // round(1.1 s * 8 fps)
  const int expected = (wanted + block - 1) / block * block;
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, "vp9");
  EXPECT_EQ(probe->frames, expected);
}

TEST_F(CliTest, InterruptCancelsAndLeavesNothing) {
  const std::string path = Out("cancelled.mp4");
  const std::string log = Out("cancel_stdout");
  // Long enough that the interrupt lands mid-render: many blocks, many steps.
  std::vector<std::string> args = {REEL_BINARY, "render",    "a long one", "--model", ModelDir(),
                                   "-o",        path,        "--frames",   "512",     "--steps",
                                   "50",        "--threads", "1"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  // Wait for the first progress line: the render is under way and the sink is open.
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    started = ReadFile(log).find("render:") != std::string::npos;
  }
  EXPECT_TRUE(started) << ReadFile(log);
  kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "a first Ctrl-C cancels cleanly instead of killing";
  EXPECT_EQ(WEXITSTATUS(status), 130) << ReadFile(log);
  EXPECT_FALSE(fs::exists(path));
  for (const auto& entry : fs::directory_iterator(*dir_)) {
    EXPECT_THAT(entry.path().string(), ::testing::Not(HasSubstr("cancelled.mp4")));
  }
}

// `reel eval --suite --save`: every render (short and long) kept as PNG frames that `reel eval`
// reads and scores again; a folder that cannot be made is an exit-2 error, before any render.
TEST_F(CliTest, EvalSuiteSavesItsRenders) {
  const std::string saved = Out("suite");
  const ProcessResult run = Reel({"eval", "--suite", "--model", ModelDir(), "--limit", "2",
                                  "--long", "2", "--steps", "2", "--save", saved});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("long x2"));
  const std::vector<std::string> lines =
      absl::StrSplit(ReadFile(saved + "/prompts.tsv"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  const std::vector<std::string> first = absl::StrSplit(lines[0], '\t');
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], "00");
  EXPECT_THAT(lines[1], StartsWith("00_long\t" + first[1]));
  auto pngs = [](const fs::path& d) {
    return std::distance(fs::directory_iterator(d), fs::directory_iterator{});
  };
  EXPECT_EQ(pngs(saved + "/00"), 8);  // the random model's default length
  EXPECT_EQ(pngs(saved + "/00_long"), 16);
  const ProcessResult again = Reel({"eval", "--video", saved + "/00", "--prompt", first[1]});
  EXPECT_TRUE(again.exit_code == 0 || again.exit_code == 1) << again.err;
  EXPECT_THAT(again.out, HasSubstr("\"temporal_consistency\""));

  std::ofstream(Out("a_file")) << "x";
  const ProcessResult bad = Reel(
      {"eval", "--suite", "--model", ModelDir(), "--limit", "1", "--save", Out("a_file") + "/sub"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, StartsWith("reel eval: --save: cannot write to"));
}

TEST_F(CliTest, ModelsListsTheModelDirectory) {
  const ProcessResult run = Reel({"models", "--dir", (*dir_ / "models").string()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("32x32, 8 frames @ 8 fps"));
  EXPECT_THAT(run.out, HasSubstr(fs::weakly_canonical(ModelDir()).string()));
}

// The largest difference, in levels of 255, between two videos' decoded frames (255 if their sizes
// differ).
int MaxLevelDifference(const std::string& a, const std::string& b) {
  const auto x = DecodeRgb(a), y = DecodeRgb(b);
  if (!x.ok() || !y.ok() || x->size() != y->size() || x->empty()) return 255;
  int worst = 0;
  for (size_t i = 0; i < x->size(); ++i) worst = std::max(worst, std::abs((*x)[i] - (*y)[i]));
  return worst;
}

// `--ranks N` shards the render over N local processes: the same video as one process. Lossless
// (--crf 0) so that the comparison sees the frames: the ranks' float sums differ from one rank's in
// the last bits, which moves a few pixels by one level — and a lossy encoder can turn a one-level
// input difference into a different coding decision.
TEST_F(CliTest, RanksRenderTheSameVideoAsOneProcess) {
  const std::string one = Out("ranks1.mp4");
  const std::vector<std::string> common = {"render",   "a red circle moving right",
                                           "--model",  ModelDir(),
                                           "--steps",  "2",
                                           "--seed",   "3",
                                           "--crf",    "0",
                                           "--frames", "16"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const ProcessResult base = Reel(with({"-o", one, "--quiet"}));
  ASSERT_EQ(base.exit_code, 0) << base.err;
  for (const auto& [ranks, cfg] :
       {std::pair{"2", false}, std::pair{"3", false}, std::pair{"2", true}, std::pair{"4", true}}) {
    const std::string path = Out(absl::StrCat("ranks", ranks, cfg ? "cfg" : "", ".mp4"));
    std::vector<std::string> extra = {"-o", path, "--ranks", ranks, "--threads", "1"};
    if (cfg) extra.push_back("--cfg_parallel");
    const ProcessResult run = Reel(with(extra));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.err, "");
    EXPECT_THAT(run.out, HasSubstr(absl::StrCat("group of ", ranks, " ranks, 1 threads each")));
    EXPECT_THAT(run.out, HasSubstr("wrote " + path));
    if (cfg) {
      EXPECT_THAT(run.out, HasSubstr("cfg parallel: rank 0 sent"));
    }
    EXPECT_LE(MaxLevelDifference(one, path), 1)
        << ranks << " ranks" << (cfg ? ", cfg parallel" : "");
  }
}

// The issue's own check: `reel render --ranks 2 PROMPT -o a.mp4` with the shipped model and every
// other setting at its default (20 steps, the default cache, the default CRF) writes the same video
// as one process. Lossy H.264 turns any one-level difference in a frame into different coding
// decisions, so this holds only because the frames are equal bit for bit and the encoder's output
// depends on nothing else (tests/encoder: Mp4BytesDependOnlyOnTheFrames).
TEST_F(CliTest, ReelTinyRanksRenderTheSameVideo) {
  const fs::path tiny = fs::path(REEL_SOURCE_DIR) / "models" / "reel-tiny";
  if (!fs::exists(tiny / "config.json")) {
    GTEST_SKIP() << "models/reel-tiny is not trained in this checkout (tools/train makes it)";
  }
  const std::string a1 = Out("tiny_r1.mp4"), a2 = Out("tiny_r2.mp4");
  for (const auto& [path, ranks] : {std::pair{a1, "1"}, std::pair{a2, "2"}}) {
    const ProcessResult run = Reel({"render", "--ranks", ranks, "a red circle moving right", "-o",
                                    path, "--model", tiny.string(), "--seed", "1", "--quiet"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  EXPECT_LE(MaxLevelDifference(a1, a2), 1);
}

// Starts REEL_BINARY with args, stdout and stderr to files; returns the pid (0 on failure).
pid_t Spawn(std::vector<std::string> args, const std::string& out, const std::string& err) {
  args.insert(args.begin(), REEL_BINARY);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : 0;
}

// Waits up to `limit` for pid; kills it if it is still running. Returns the wait status, or -1.
int WaitWithin(pid_t pid, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// The other direction: ranks started by hand, rank 0 (the one that writes) SIGKILLed mid-render;
// rank 1 fails on its own within the group timeout with a clear message.
TEST_F(CliTest, AKilledRankZeroFailsItsPeers) {
  const std::string rdv = Out("rendezvous_kill0");
  fs::create_directories(rdv);
  auto member = [&](int rank) {
    return std::vector<std::string>{"render",
                                    "a long one",
                                    "--model",
                                    ModelDir(),
                                    "-o",
                                    Out(absl::StrCat("kill0_", rank, ".mp4")),
                                    "--frames",
                                    "512",
                                    "--steps",
                                    "50",
                                    "--threads",
                                    "1",
                                    "--group_id",
                                    "k0",
                                    "--rank",
                                    absl::StrCat(rank),
                                    "--ranks",
                                    "2",
                                    "--rendezvous",
                                    rdv,
                                    "--group_timeout",
                                    "5"};
  };
  const pid_t zero = Spawn(member(0), Out("kill0_out0"), Out("kill0_err0"));
  const pid_t one = Spawn(member(1), Out("kill0_out1"), Out("kill0_err1"));
  ASSERT_GT(zero, 0);
  ASSERT_GT(one, 0);
  bool rendering = false;
  for (int i = 0; i < 600 && !rendering; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    rendering = ReadFile(Out("kill0_out0")).find("render:") != std::string::npos;
  }
  EXPECT_TRUE(rendering) << ReadFile(Out("kill0_err0"));
  const auto killed_at = std::chrono::steady_clock::now();
  kill(zero, SIGKILL);
  waitpid(zero, nullptr, 0);
  const int status = WaitWithin(one, std::chrono::seconds(30));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  ASSERT_NE(status, -1) << "rank 1 hung after rank 0 was killed";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_LT(seconds, 5.0 + 3.0);
  EXPECT_THAT(ReadFile(Out("kill0_err1")), HasSubstr("reel render: rank 1 of 2: "));
  EXPECT_THAT(ReadFile(Out("kill0_err1")), HasSubstr("a peer rank died or hung"));
  std::printf("[ figures ] rank 1 failed %.2f s after rank 0 was killed\n", seconds);
}

// Starts `reel render --ranks 2` on a long render; returns rank 0's pid and, once it renders,
// rank 1's (from rank 0's "group of 2 ranks" line).
std::pair<pid_t, int> StartTwoRanks(const std::string& path, const std::string& log,
                                    const std::string& err, const std::string& model) {
  const pid_t pid =
      Spawn({"render", "a long one", "--model", model, "-o", path, "--frames", "512", "--steps",
             "50", "--ranks", "2", "--threads", "1", "--group_timeout", "5"},
            log, err);
  int follower = 0;
  for (int i = 0; i < 600 && follower == 0 && pid > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::string out = ReadFile(log);
    const size_t at = out.find("rank 1 pid ");
    if (at != std::string::npos && out.find("render:") != std::string::npos) {
      follower = std::atoi(out.c_str() + at + 11);
    }
  }
  return {pid, follower};
}

// SIGKILL one rank mid-render: rank 0 fails within the group timeout, names the dead rank, writes
// nothing, and leaves no process behind.
TEST_F(CliTest, AKilledRankFailsTheGroupWithinTheTimeout) {
  const std::string path = Out("killed.mp4"), err = Out("killed_stderr");
  const auto [pid, follower] = StartTwoRanks(path, Out("killed_stdout"), err, ModelDir());
  ASSERT_GT(pid, 0);
  ASSERT_GT(follower, 0) << ReadFile(Out("killed_stdout"));
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(follower, SIGKILL), 0);
  const int status = WaitWithin(pid, std::chrono::seconds(30));
  ASSERT_NE(status, -1) << "rank 0 hung after its peer was killed";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 5.0 + 3.0) << "within the 5 s group timeout";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string message = ReadFile(err);
  EXPECT_THAT(message, HasSubstr("reel render: rank 0 of 2: "));
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("rank 1 (pid ", follower, ") was killed by signal 9")));
  EXPECT_FALSE(fs::exists(path));
  std::printf("[ figures ] rank 0 failed %.2f s after rank 1 was killed: %s", seconds,
              message.c_str());
}

// A rank that hangs (SIGSTOP) instead of dying: rank 0 gives up at the group timeout with a
// deadline error, and the stopped rank is killed, not left behind.
TEST_F(CliTest, AHungRankFailsTheGroupAtTheTimeout) {
  const std::string path = Out("hung.mp4"), err = Out("hung_stderr");
  const auto [pid, follower] = StartTwoRanks(path, Out("hung_stdout"), err, ModelDir());
  ASSERT_GT(pid, 0);
  ASSERT_GT(follower, 0) << ReadFile(Out("hung_stdout"));
  const auto stopped_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(follower, SIGSTOP), 0);
  const int status = WaitWithin(pid, std::chrono::seconds(40));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  if (status == -1) kill(follower, SIGKILL);
  ASSERT_NE(status, -1) << "rank 0 hung behind a stopped peer";
  EXPECT_GT(seconds, 4.0);
  EXPECT_LT(seconds, 5.0 + 5.0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_THAT(ReadFile(err), HasSubstr("Timed out"));
  EXPECT_NE(kill(follower, 0), 0) << "the stopped rank was left running";
  EXPECT_FALSE(fs::exists(path));
  std::printf("[ figures ] rank 0 failed %.2f s after rank 1 was stopped (timeout 5 s)\n", seconds);
}

// Ranks started by hand with inconsistent arguments: a clear error on each, exit 1, no hang.
TEST_F(CliTest, BadGroupInputIsAClearErrorNotAHang) {
  const std::string rdv = Out("rendezvous");
  fs::create_directories(rdv);
  auto member = [&](const std::string& group, int rank, int ranks, const std::string& address) {
    return std::vector<std::string>{"render",
                                    "a red circle",
                                    "--model",
                                    ModelDir(),
                                    "-o",
                                    Out(absl::StrCat(group, rank, ".mp4")),
                                    "--steps",
                                    "1",
                                    "--quiet",
                                    "--group_id",
                                    group,
                                    "--rank",
                                    absl::StrCat(rank),
                                    "--ranks",
                                    absl::StrCat(ranks),
                                    "--rendezvous",
                                    address,
                                    "--group_timeout",
                                    "3"};
  };
  auto pair = [&](std::vector<std::string> a, std::vector<std::string> b) {
    std::vector<ProcessResult> runs(2);
    std::thread t([&] { runs[1] = Reel(b); });
    runs[0] = Reel(a);
    t.join();
    return runs;
  };
  const auto start = std::chrono::steady_clock::now();
  const auto mismatched = pair(member("m", 0, 2, rdv), member("m", 1, 3, rdv));
  EXPECT_EQ(mismatched[0].exit_code, 1);
  EXPECT_THAT(mismatched[0].err, HasSubstr("mismatched world sizes"));
  EXPECT_EQ(mismatched[1].exit_code, 1);
  const auto duplicate = pair(member("d", 0, 2, rdv), member("d", 0, 2, rdv));
  EXPECT_TRUE(duplicate[0].exit_code == 1 && duplicate[1].exit_code == 1);
  EXPECT_THAT(duplicate[0].err + duplicate[1].err, HasSubstr("is already taken (duplicate rank?)"));
  const auto wrong_id = pair(member("g1", 0, 2, rdv), member("g2", 1, 2, rdv));
  EXPECT_EQ(wrong_id[0].exit_code, 1);
  EXPECT_THAT(wrong_id[0].err, HasSubstr("rank(s) 1 of 2 did not join within 3s"));
  const ProcessResult nowhere = Reel(member("n", 0, 2, Out("no/such/rendezvous")));
  EXPECT_EQ(nowhere.exit_code, 1);
  EXPECT_THAT(nowhere.err, HasSubstr("is unreachable"));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60);
}

TEST_F(CliTest, ReelTinyRendersWhenTrained) {
  const fs::path tiny = fs::path(REEL_SOURCE_DIR) / "models" / "reel-tiny";
  if (!fs::exists(tiny / "config.json")) {
    GTEST_SKIP() << "models/reel-tiny is not trained in this checkout (tools/train makes it)";
  }
  const std::string path = Out("tiny.mp4");
  const ProcessResult run = Reel({"render", "a red circle moving right", "--model", tiny.string(),
                                  "-o", path, "--steps", "2", "--seed", "1", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto probe = Probe(path);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->codec_name, "h264");
  EXPECT_GT(probe->frames, 1);
}

// The shipped sparse-linear model: `reel models` shows its attention, it renders (ffprobe), and the
// attention flags are checked against the model's kind. Window 0 makes it pure linear attention,
// which must differ from the default window (its exact branch is trained: proj_s != 0).
TEST_F(CliTest, ReelTinySlaRendersAndChecksItsAttentionFlags) {
  const fs::path models = fs::path(REEL_SOURCE_DIR) / "models";
  if (!fs::exists(models / "reel-tiny-sla" / "config.json")) {
    GTEST_SKIP() << "models/reel-tiny-sla is not trained in this checkout (tools/train makes it)";
  }
  const ProcessResult listed = Reel({"models", "--dir", models.string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("attention: sparse_linear: window 2 blocks, top-k 0.25"));
  EXPECT_THAT(listed.out, HasSubstr("attention: linear"));  // reel-tiny

  const std::string sla = (models / "reel-tiny-sla").string();
  const std::vector<std::string> common = {"render",  "a red circle moving right",
                                           "--model", sla,
                                           "--steps", "2",
                                           "--seed",  "1",
                                           "--quiet", "--crf",
                                           "0",       "--cache",
                                           "none"};
  auto render = [&](const std::string& path, std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), {"-o", path});
    args.insert(args.end(), extra.begin(), extra.end());
    return Reel(args);
  };
  const std::string a = Out("sla.mp4"), linear = Out("sla_w0.mp4");
  const ProcessResult run = render(a, {});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto probe = Probe(a);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(probe->frames, 16);
  ASSERT_EQ(render(linear, {"--attention-window", "0"}).exit_code, 0);
  EXPECT_GT(MaxLevelDifference(a, linear), 0) << "the exact branch must change the video";

  const ProcessResult bad_topk = render(Out("x.mp4"), {"--sla-topk", "1.5"});
  EXPECT_EQ(bad_topk.exit_code, 2);
  EXPECT_THAT(bad_topk.err, HasSubstr("--sla-topk: 1.5 is outside (0, 1]"));
  const ProcessResult linear_model =
      Reel({"render", "x", "--model", (models / "reel-tiny").string(), "--attention-window", "3",
            "-o", Out("y.mp4"), "--quiet"});
  EXPECT_EQ(linear_model.exit_code, 2);
  EXPECT_THAT(linear_model.err, HasSubstr("attention_window: the model's attention is linear"));
}

}  // namespace
}  // namespace reel
