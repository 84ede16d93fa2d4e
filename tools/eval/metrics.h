#pragma once
// Pixel metrics between two videos of equal shape (CV_8UC3 frames): PSNR over all pixels and the
// mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) over frames and
// channels.
#include <vector>

#include "absl/status/statusor.h"
#include "opencv2/core.hpp"

namespace reel::eval {

// Peak 255; identical videos give +infinity.
absl::StatusOr<double> Psnr(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b);

absl::StatusOr<double> Ssim(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b);

}  // namespace reel::eval
