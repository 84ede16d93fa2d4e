// The CLI progress display: fraction arithmetic, durations, what a pipe gets (few plain lines) and
// what a terminal gets (one redrawn, rate-limited bar).
#include "tools/reel/cli_progress.h"

#include <cstdio>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reel::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Captures what the bar prints into a temporary file.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  std::FILE* file() { return file_; }
  std::string Text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file_)) > 0) s.append(buf, n);
    return s;
  }

 private:
  std::FILE* file_;
};

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

TEST(ProgressBar, Fraction) {
  EXPECT_DOUBLE_EQ(ProgressBar::Fraction({0, 10, 0, 4}), 0.0);
  EXPECT_DOUBLE_EQ(ProgressBar::Fraction({5, 10, 0, 4}), 0.125);
  EXPECT_DOUBLE_EQ(ProgressBar::Fraction({5, 10, 2, 4}), 0.625);
  // The renderer reports a block's last step with the block already counted as finished.
  EXPECT_DOUBLE_EQ(ProgressBar::Fraction({10, 10, 1, 4}), 0.25);
  EXPECT_DOUBLE_EQ(ProgressBar::Fraction({10, 10, 4, 4}), 1.0);
  EXPECT_DOUBLE_EQ(ProgressBar::Fraction({3, 10, 0, 0}), 0.0) << "unknown total";
}

TEST(ProgressBar, FormatDuration) {
  EXPECT_EQ(ProgressBar::FormatDuration(0.44), "0.4s");
  EXPECT_EQ(ProgressBar::FormatDuration(12.4), "12s");
  EXPECT_EQ(ProgressBar::FormatDuration(185), "3m05s");
  EXPECT_EQ(ProgressBar::FormatDuration(3725), "1h02m");
  EXPECT_EQ(ProgressBar::FormatDuration(-1), "?");
}

TEST(ProgressBar, PipeGetsOneLinePerBlock) {
  Capture out;
  double now = 0;
  {
    ProgressBar bar(out.file(), ProgressBar::Style::kLines, "render", [&now] { return now; });
    for (int block = 0; block < 3; ++block) {
      for (int step = 1; step <= 10; ++step) {
        now += 0.2;  // 2 s per block: a line per block, none in between
        bar.Update({step, 10, block + (step == 10 ? 1 : 0), 3, now, -1, ""});
      }
    }
  }
  const std::string text = out.Text();
  EXPECT_THAT(text, Not(HasSubstr("\r")));
  // The first update, then one line each time a block finishes.
  EXPECT_EQ(Count(text, "\n"), 4) << text;
  EXPECT_THAT(text, HasSubstr("render:  33%  block 1/3  step 10/10"));
  EXPECT_THAT(text, HasSubstr("render: 100%  block 3/3  step 10/10  6.0s\n"));
  // ETA from elapsed and fraction: after 2 s and 1/3 done, 4 s left.
  EXPECT_THAT(text, HasSubstr("ETA 4.0s"));
}

TEST(ProgressBar, PipeCollapsesFastBlocks) {
  Capture out;
  double now = 0;
  {
    ProgressBar bar(out.file(), ProgressBar::Style::kLines, "", [&now] { return now; });
    for (int block = 1; block <= 100; ++block) {
      now += 0.05;  // 20 blocks a second: at most one line a second, plus the last
      bar.Update({4, 4, block, 100, now, -1, ""});
      bar.Update({4, 4, block, 100, now, -1, ""});  // repeated reports change nothing
    }
  }
  const std::string text = out.Text();
  EXPECT_EQ(Count(text, "\n"), 6) << text;  // first, at 1, 2, 3, 4 s, then 100% at 5 s
  EXPECT_EQ(Count(text, "100%"), 1) << text;
}

TEST(ProgressBar, PipeGetsALineEveryFewSecondsInsideALongBlock) {
  Capture out;
  double now = 0;
  ProgressBar bar(out.file(), ProgressBar::Style::kLines, "", [&now] { return now; });
  for (int step = 1; step < 100; ++step) {
    now = step * 1.0;  // one step per second: a line every 5 s
    bar.Update({step, 100, 0, 1, now, -1, ""});
  }
  EXPECT_EQ(Count(out.Text(), "\n"), 20) << out.Text();
}

TEST(ProgressBar, TerminalBarIsRedrawnAndRateLimited) {
  Capture out;
  double now = 0;
  {
    ProgressBar bar(out.file(), ProgressBar::Style::kBar, "render", [&now] { return now; });
    for (int step = 1; step <= 100; ++step) {
      now += 0.001;  // 100 updates within 0.1 s: one redraw plus the final one
      bar.Update({step, 200, 0, 1, now, 7.5, "RUNNING"});
    }
    EXPECT_EQ(Count(out.Text(), "\r"), 1);
    bar.Finish();
  }
  const std::string text = out.Text();
  EXPECT_EQ(Count(text, "\r"), 2) << "Finish() draws the last state";
  EXPECT_EQ(Count(text, "\n"), 1) << "and ends the line";
  EXPECT_THAT(text, HasSubstr(" 50%"));
  EXPECT_THAT(text, HasSubstr("step 100/200"));
  EXPECT_THAT(text, HasSubstr("ETA 7.5s"));
  EXPECT_THAT(text, HasSubstr("RUNNING"));
  EXPECT_THAT(text, HasSubstr("\x1b[K")) << "clears the rest of the line";
}

TEST(ProgressBar, QuietPrintsNothing) {
  Capture out;
  {
    ProgressBar bar(out.file(), ProgressBar::Style::kQuiet);
    bar.Update({1, 2, 0, 1, 0.5, -1, ""});
  }
  EXPECT_EQ(out.Text(), "");
}

TEST(ProgressBar, AutoOnAFileIsLines) {
  Capture out;
  ProgressBar bar(out.file());
  EXPECT_EQ(bar.style(), ProgressBar::Style::kLines);
}

}  // namespace
}  // namespace reel::cli
