#include "tools/reel/cli_progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace reel::cli {
namespace {

constexpr double kBarRedrawS = 0.1;   // at most 10 redraws a second on a terminal
constexpr double kLineEveryS = 5.0;   // on a pipe: a line at least this often inside a block,
constexpr double kLineMinGapS = 1.0;  // one per finished block, but not more often than this
constexpr int kDefaultColumns = 80;

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool LocaleIsUtf8() {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return std::strstr(v, "UTF-8") || std::strstr(v, "utf8");
  }
  return false;
}

int TerminalColumns(std::FILE* out) {
  winsize ws{};
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return kDefaultColumns;
}

}  // namespace

ProgressBar::ProgressBar(std::FILE* out, Style style, std::string label,
                         std::function<double()> now_s)
    : out_(out),
      style_(style),
      label_(std::move(label)),
      now_s_(now_s ? std::move(now_s) : SteadySeconds),
      unicode_(LocaleIsUtf8()) {
  if (style_ == Style::kAuto) style_ = isatty(fileno(out_)) ? Style::kBar : Style::kLines;
}

ProgressBar::~ProgressBar() { Finish(); }

double ProgressBar::Fraction(const ProgressUpdate& u) {
  if (u.total_blocks <= 0) return 0;
  // A block's last step (step == total_steps) is reported with the block already counted.
  const double in_block =
      u.total_steps > 0 && u.step < u.total_steps ? static_cast<double>(u.step) / u.total_steps : 0;
  return std::clamp((u.block + in_block) / u.total_blocks, 0.0, 1.0);
}

std::string ProgressBar::FormatDuration(double s) {
  if (!(s >= 0)) return "?";
  if (s < 10) return absl::StrFormat("%.1fs", s);
  const int64_t total = static_cast<int64_t>(std::llround(s));
  if (total < 60) return absl::StrCat(total, "s");
  if (total < 3600) return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  return absl::StrFormat("%dh%02dm", total / 3600, total % 3600 / 60);
}

std::string ProgressBar::Describe(const ProgressUpdate& u) const {
  std::string s;
  if (u.total_blocks > 0) absl::StrAppend(&s, "block ", u.block, "/", u.total_blocks);
  if (u.total_steps > 0) {
    // After the last step of the last block there is no "current" block left to count steps in.
    const int step = u.block >= u.total_blocks ? u.total_steps : std::min(u.step, u.total_steps);
    absl::StrAppend(&s, s.empty() ? "" : "  ", "step ", step, "/", u.total_steps);
  }
  absl::StrAppend(&s, s.empty() ? "" : "  ", FormatDuration(u.elapsed_s));
  const double f = Fraction(u);
  double eta = u.eta_s;
  if (eta < 0 && f > 0) eta = u.elapsed_s * (1 - f) / f;
  if (f < 1 && eta >= 0 && f > 0) absl::StrAppend(&s, ", ETA ", FormatDuration(eta));
  if (!u.note.empty()) absl::StrAppend(&s, "  ", u.note);
  return s;
}

void ProgressBar::Draw(const ProgressUpdate& u) {
  const double f = Fraction(u);
  const std::string percent = absl::StrFormat("%3d%%", static_cast<int>(f * 100));
  const std::string tail = Describe(u);
  const std::string head = label_.empty() ? "" : label_ + " ";
  // The bar takes what the text leaves of the terminal width, between 10 and 40 cells.
  const int columns = TerminalColumns(out_);
  const int text = static_cast<int>(head.size() + percent.size() + tail.size()) + 5;
  const int cells = std::clamp(columns - text, 10, 40);
  const int filled = static_cast<int>(std::lround(f * cells));
  std::string bar;
  for (int i = 0; i < cells; ++i) {
    bar += i < filled ? (unicode_ ? "\u2588" : "#") : (unicode_ ? "\u2591" : ".");
  }
  // \r back to column 0, then \x1b[K clears what a longer previous line left behind.
  std::fprintf(out_, "\r%s%s %s %s\x1b[K", head.c_str(), bar.c_str(), percent.c_str(),
               tail.c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Update(const ProgressUpdate& u) {
  if (style_ == Style::kQuiet) return;
  if (Fraction(u) >= 1 && has_last_ && Fraction(last_) >= 1) return;  // said "100%" already
  last_ = u;
  has_last_ = true;
  const double now = now_s_();
  const bool block_moved = u.block != last_block_;
  const bool done = Fraction(u) >= 1;
  if (style_ == Style::kBar) {
    if (block_moved || done || now - last_draw_s_ >= kBarRedrawS) {
      Draw(u);
      last_draw_s_ = now;
    }
  } else if ((block_moved && now - last_draw_s_ >= kLineMinGapS) || done ||
             now - last_draw_s_ >= kLineEveryS) {
    std::fprintf(out_, "%s%3d%%  %s\n", label_.empty() ? "" : (label_ + ": ").c_str(),
                 static_cast<int>(Fraction(u) * 100), Describe(u).c_str());
    std::fflush(out_);
    last_draw_s_ = now;
  }
  last_block_ = u.block;
}

void ProgressBar::Finish() {
  if (style_ == Style::kBar && drawn_) {
    if (has_last_) Draw(last_);  // the final state, even if the last update was rate-limited
    std::fputc('\n', out_);
    std::fflush(out_);
  }
  drawn_ = false;
  has_last_ = false;
}

}  // namespace reel::cli
