#pragma once
// Progress display for long CLI commands (`reel render`, `reel watch`, ...): on a terminal, one bar
// redrawn in place with blocks, steps, elapsed time and ETA; on a pipe or file, plain lines: one
// when a block finishes (at most one a second), one every 5 s inside a long block, and the 100%
// line, so logs stay short.
//
//   ProgressBar bar(stdout, ProgressBar::Style::kAuto, "render");
//   renderer->Render(..., [&](const RenderProgress& p) {
//     bar.Update({p.step, p.total_steps, p.block, p.total_blocks, p.elapsed_s, p.eta_s});
//   }, ...);
//   bar.Finish();  // then print the result line
#include <cstdio>
#include <functional>
#include <string>

namespace reel::cli {

// One report, whatever produced it (the in-process Renderer, a gRPC Watch stream).
struct ProgressUpdate {
  int step = 0;          // denoising steps done in the current block
  int total_steps = 0;   // per block; 0: unknown
  int block = 0;         // blocks finished
  int total_blocks = 0;  // 0: unknown
  double elapsed_s = 0;
  double eta_s = -1;  // < 0: estimate it from elapsed_s and the fraction done
  std::string note;   // optional short status after the numbers (e.g. a job state)
};

class ProgressBar {
 public:
  enum class Style {
    kAuto,   // kBar when `out` is a terminal, else kLines
    kBar,    // redrawn in place with '\r'
    kLines,  // plain lines
    kQuiet,  // nothing
  };

  // `label` starts every line ("render"). `now_s` is a monotonic clock in seconds; tests pass a
  // fake one, the default is std::chrono::steady_clock.
  explicit ProgressBar(std::FILE* out = stdout, Style style = Style::kAuto, std::string label = "",
                       std::function<double()> now_s = nullptr);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();  // Finish()

  void Update(const ProgressUpdate& update);
  // Ends the display: a bar shows its last state and moves to the next line, so what the caller
  // prints next starts on a clean line. Idempotent.
  void Finish();

  Style style() const { return style_; }

  // Fraction done in [0, 1]: finished blocks plus the current block's share of steps.
  static double Fraction(const ProgressUpdate& update);
  // "0.4s", "12s", "3m05s", "1h02m".
  static std::string FormatDuration(double seconds);

 private:
  std::string Describe(const ProgressUpdate& update) const;  // "block 2/4  step 3/20  ..."
  void Draw(const ProgressUpdate& update);

  std::FILE* const out_;
  Style style_;
  const std::string label_;
  const std::function<double()> now_s_;
  const bool unicode_;
  double last_draw_s_ = -1e9;
  int last_block_ = -1;
  bool drawn_ = false;  // a bar line is on screen
  bool has_last_ = false;
  ProgressUpdate last_;
};

}  // namespace reel::cli
