#include "tools/eval/metrics.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "opencv2/imgproc.hpp"

namespace reel::eval {
namespace {

absl::Status CheckSame(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  if (a.empty() || a.size() != b.size()) {
    return absl::InvalidArgumentError("videos must have the same, nonzero number of frames");
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type() != CV_8UC3 || b[i].type() != CV_8UC3 || a[i].size() != b[i].size()) {
      return absl::InvalidArgumentError("frames must be CV_8UC3 of the same size");
    }
  }
  return absl::OkStatus();
}

double FrameSsim(const cv::Mat& a8, const cv::Mat& b8) {
  constexpr double kC1 = (0.01 * 255) * (0.01 * 255);
  constexpr double kC2 = (0.03 * 255) * (0.03 * 255);
  cv::Mat a, b;
  a8.convertTo(a, CV_64F);
  b8.convertTo(b, CV_64F);
  auto blur = [](const cv::Mat& x) {
    cv::Mat y;
    cv::GaussianBlur(x, y, cv::Size(11, 11), 1.5, 1.5, cv::BORDER_REFLECT);
    return y;
  };
  const cv::Mat mu_a = blur(a), mu_b = blur(b);
  const cv::Mat mu_a2 = mu_a.mul(mu_a), mu_b2 = mu_b.mul(mu_b), mu_ab = mu_a.mul(mu_b);
  const cv::Mat s_a = blur(a.mul(a)) - mu_a2, s_b = blur(b.mul(b)) - mu_b2;
  const cv::Mat s_ab = blur(a.mul(b)) - mu_ab;
  cv::Mat num = (2 * mu_ab + kC1).mul(2 * s_ab + kC2);
  cv::Mat den = (mu_a2 + mu_b2 + kC1).mul(s_a + s_b + kC2);
  cv::Mat map;
  cv::divide(num, den, map);
  const cv::Scalar m = cv::mean(map);
  return (m[0] + m[1] + m[2]) / 3.0;
}

}  // namespace

absl::StatusOr<double> Psnr(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  if (absl::Status s = CheckSame(a, b); !s.ok()) return s;
  double se = 0, count = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    cv::Mat d;
    cv::absdiff(a[i], b[i], d);
    d.convertTo(d, CV_64F);
    const cv::Scalar s = cv::sum(d.mul(d));
    se += s[0] + s[1] + s[2];
    count += 3.0 * a[i].total();
  }
  if (se == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / (se / count));
}

absl::StatusOr<double> Ssim(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  if (absl::Status s = CheckSame(a, b); !s.ok()) return s;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += FrameSsim(a[i], b[i]);
  return sum / a.size();
}

}  // namespace reel::eval
