#include "tools/eval/analyze.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numbers>
#include <vector>

#include "absl/status/status.h"
#include "opencv2/imgproc.hpp"
#include "tools/eval/palette.h"

namespace reel::eval {
namespace {

std::array<uint8_t, 3> Pixel(const cv::Mat& rgb, int y, int x) {
  const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
  return {p[0], p[1], p[2]};
}

// Background class of one frame: the palette background nearest to the median border pixel.
int BackgroundIndex(const cv::Mat& rgb) {
  std::array<std::vector<int>, 3> ch;
  for (int x = 0; x < rgb.cols; ++x) {
    for (int y : {0, rgb.rows - 1}) {
      const auto p = Pixel(rgb, y, x);
      for (int c = 0; c < 3; ++c) ch[c].push_back(p[c]);
    }
  }
  for (int y = 0; y < rgb.rows; ++y) {
    for (int x : {0, rgb.cols - 1}) {
      const auto p = Pixel(rgb, y, x);
      for (int c = 0; c < 3; ++c) ch[c].push_back(p[c]);
    }
  }
  std::array<uint8_t, 3> med;
  for (int c = 0; c < 3; ++c) {
    std::nth_element(ch[c].begin(), ch[c].begin() + ch[c].size() / 2, ch[c].end());
    med[c] = static_cast<uint8_t>(ch[c][ch[c].size() / 2]);
  }
  int best = 0;
  for (int i = 1; i < static_cast<int>(kBackgrounds.size()); ++i) {
    if (ColorDistance2(med, kBackgrounds[i].rgb) < ColorDistance2(med, kBackgrounds[best].rgb)) {
      best = i;
    }
  }
  return best;
}

// Per-pixel label: -1 background, else index into kObjectColors. Anti-aliased edges are blends
// p = bg + a (c - bg); each color c is scored by the distance from p to that blend line (a clamped
// to [0, 1]), so an edge pixel of a red object on black is "half red", not a darker third color.
// The pixel belongs to the best color when it is at least half way from the background to it.
cv::Mat LabelPixels(const cv::Mat& rgb, const std::array<uint8_t, 3>& bg) {
  cv::Mat labels(rgb.size(), CV_8SC1);
  for (int y = 0; y < rgb.rows; ++y) {
    for (int x = 0; x < rgb.cols; ++x) {
      const auto p = Pixel(rgb, y, x);
      int best = -1;
      double best_d = 0, best_a = 0;
      for (int i = 0; i < static_cast<int>(kObjectColors.size()); ++i) {
        const auto& c = kObjectColors[i].rgb;
        double dot = 0, len2 = 0;
        for (int k = 0; k < 3; ++k) {
          const double e = static_cast<double>(c[k]) - bg[k];
          dot += (static_cast<double>(p[k]) - bg[k]) * e;
          len2 += e * e;
        }
        const double a = std::clamp(dot / len2, 0.0, 1.0);
        double d = 0;
        for (int k = 0; k < 3; ++k) {
          const double r =
              static_cast<double>(p[k]) - (bg[k] + a * (static_cast<double>(c[k]) - bg[k]));
          d += r * r;
        }
        if (best < 0 || d < best_d) {
          best = i;
          best_d = d;
          best_a = a;
        }
      }
      labels.at<int8_t>(y, x) = static_cast<int8_t>(best_a >= 0.5 ? best : -1);
    }
  }
  return labels;
}

// Largest connected component of a binary mask (8-connected), as a new mask.
cv::Mat LargestComponent(const cv::Mat& mask, double* area) {
  cv::Mat lab, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, lab, stats, centroids, 8, CV_32S);
  int best = -1, best_area = 0;
  for (int i = 1; i < n; ++i) {
    const int a = stats.at<int>(i, cv::CC_STAT_AREA);
    if (a > best_area) {
      best_area = a;
      best = i;
    }
  }
  *area = best_area;
  if (best < 0) return cv::Mat::zeros(mask.size(), CV_8UC1);
  return lab == best;
}

std::string Majority(const std::vector<std::string>& v, double* fraction) {
  std::map<std::string, int> counts;
  for (const auto& s : v) ++counts[s];
  std::string best;
  int best_n = 0;
  for (const auto& [s, n] : counts) {
    if (n > best_n) {
      best_n = n;
      best = s;
    }
  }
  *fraction = v.empty() ? 0.0 : static_cast<double>(best_n) / v.size();
  return best;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Motion from the first `frames` track points where the object is present.
std::string ClassifyMotion(const std::vector<ObjectTrackPoint>& track, int frames) {
  std::vector<const ObjectTrackPoint*> pts, free_pts;
  for (int f = 0; f < std::min<int>(frames, track.size()); ++f) {
    if (!track[f].present) continue;
    pts.push_back(&track[f]);
    if (!track[f].touching) free_pts.push_back(&track[f]);
  }
  if (pts.size() < 2) return "still";
  // Occluded frames distort area and centroid; use the free ones when there are enough.
  if (free_pts.size() >= 4) pts = free_pts;
  std::vector<double> adx, ady, dx, dy;
  for (size_t i = 1; i < pts.size(); ++i) {
    dx.push_back(pts[i]->cx - pts[i - 1]->cx);
    dy.push_back(pts[i]->cy - pts[i - 1]->cy);
    adx.push_back(std::abs(dx.back()));
    ady.push_back(std::abs(dy.back()));
  }
  const double mx = Median(adx), my = Median(ady);
  if (std::max(mx, my) < 0.6) {
    // Area trend: the mean of the first and last quarter (robust to one noisy frame).
    const size_t q = std::max<size_t>(1, pts.size() / 4);
    double a0 = 0, a1 = 0;
    for (size_t i = 0; i < q; ++i) {
      a0 += pts[i]->area;
      a1 += pts[pts.size() - 1 - i]->area;
    }
    const double ratio = a1 / std::max(a0, 1.0);
    if (ratio > 1.8) return "growing";
    if (ratio < 1.0 / 1.8) return "shrinking";
    return "still";
  }
  if (mx > 0.5 && my > 0.5 && std::min(mx, my) > 0.5 * std::max(mx, my)) return "diagonal";
  // Direction: the displacement before the first bounce dominates; the median step is robust.
  if (mx >= my) return Median(dx) > 0 ? "right" : "left";
  return Median(dy) > 0 ? "down" : "up";
}

// Notches of a contour: the stretches between consecutive convex-hull vertices that sink deeper
// than `min_depth` below their hull edge. A five-pointed star has five; a blob that is merely
// non-convex (a melted or half-split shape) has one or two, which solidity alone cannot tell apart.
int CountNotches(const std::vector<cv::Point>& contour, double min_depth) {
  std::vector<int> hull;
  cv::convexHull(contour, hull, /*clockwise=*/false, /*returnPoints=*/false);
  if (hull.size() < 3) return 0;
  std::sort(hull.begin(), hull.end());
  const int n = static_cast<int>(contour.size());
  int notches = 0;
  for (size_t h = 0; h < hull.size(); ++h) {
    const int i0 = hull[h], i1 = h + 1 < hull.size() ? hull[h + 1] : hull[0] + n;
    const cv::Point2d a = contour[i0], b = contour[i1 % n];
    const cv::Point2d edge = b - a;
    const double len = std::max(cv::norm(edge), 1e-9);
    double depth = 0;
    for (int i = i0 + 1; i < i1; ++i) {
      const cv::Point2d p = static_cast<cv::Point2d>(contour[i % n]) - a;
      depth = std::max(depth, std::abs(edge.x * p.y - edge.y * p.x) / len);
    }
    notches += depth > min_depth ? 1 : 0;
  }
  return notches;
}

}  // namespace

std::string ClassifyShape(const cv::Mat& mask) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
  if (contours.empty()) return "";
  const auto& c = *std::max_element(
      contours.begin(), contours.end(),
      [](const auto& a, const auto& b) { return cv::contourArea(a) < cv::contourArea(b); });
  const double area = cv::countNonZero(mask);
  if (area < 4) return "";
  const cv::Rect box = cv::boundingRect(c);
  std::vector<cv::Point> hull;
  cv::convexHull(c, hull);
  // Pixel-count areas are ~one half-perimeter larger than polygon areas; compare like with like.
  const double hull_area = cv::contourArea(hull) + 0.5 * cv::arcLength(hull, true);
  const double solidity = area / std::max(hull_area, 1.0);
  const double fill = area / std::max(1.0, static_cast<double>(box.area()));
  const cv::Moments m = cv::moments(mask, true);
  const double cy = m.m01 / std::max(m.m00, 1.0);
  const double yoff = (cy - (box.y + 0.5 * (box.height - 1))) / std::max(1, box.height);
  // A star's notches sink ~0.45 of its hull's equivalent radius; 0.15 keeps blurred stars and
  // rejects the shallow dents of soft edges. Three of five allows points merged at small sizes.
  const double hull_radius = std::sqrt(hull_area / std::numbers::pi);
  if (solidity < 0.8 && CountNotches(c, 0.15 * hull_radius) >= 3) return "star";
  if (fill > 0.9) return "square";
  if (fill > 0.66) return "circle";
  if (std::abs(yoff) > 0.07) return "triangle";
  return "diamond";
}

absl::StatusOr<VideoAnalysis> AnalyzeVideo(const std::vector<cv::Mat>& frames,
                                           const AnalyzeOptions& options) {
  if (frames.size() < 2) return absl::InvalidArgumentError("need at least 2 frames");
  for (const cv::Mat& f : frames) {
    if (f.type() != CV_8UC3 || f.size() != frames[0].size()) {
      return absl::InvalidArgumentError("frames must be CV_8UC3 RGB of one size");
    }
    if (f.rows < 8 || f.cols < 8) {
      return absl::InvalidArgumentError("frames must be at least 8x8 pixels");
    }
  }
  const int n = static_cast<int>(frames.size());
  const double scale = frames[0].total() / (64.0 * 64.0);  // thresholds are for 64x64
  std::vector<int> bg_index(n);
  std::vector<std::string> bg_names;
  for (int f = 0; f < n; ++f) {
    bg_index[f] = BackgroundIndex(frames[f]);
    bg_names.emplace_back(kBackgrounds[bg_index[f]].name);
  }
  VideoAnalysis out;
  out.background = Majority(bg_names, &out.background_consistency);
  int bg_i = 0;
  for (int i = 0; i < static_cast<int>(kBackgrounds.size()); ++i) {
    if (kBackgrounds[i].name == out.background) bg_i = i;
  }
  const auto bg_rgb = kBackgrounds[bg_i].rgb;

  const int nc = static_cast<int>(kObjectColors.size());
  std::vector<std::vector<ObjectTrackPoint>> tracks(nc, std::vector<ObjectTrackPoint>(n));
  for (int f = 0; f < n; ++f) {
    const cv::Mat labels = LabelPixels(frames[f], bg_rgb);
    for (int c = 0; c < nc; ++c) {
      const cv::Mat mask = labels == c;
      double area = 0;
      const cv::Mat comp = LargestComponent(mask, &area);
      if (area < options.min_area * scale) continue;
      const cv::Moments m = cv::moments(comp, true);
      ObjectTrackPoint& p = tracks[c][f];
      p.present = true;
      p.area = area / scale;
      p.cx = m.m10 / m.m00 / std::sqrt(scale);
      p.cy = m.m01 / m.m00 / std::sqrt(scale);
      p.shape = ClassifyShape(comp);
      cv::Mat grown, others;
      cv::dilate(comp, grown, cv::Mat(), cv::Point(-1, -1), 2);
      others = (labels >= 0) & (labels != c);
      p.touching = cv::countNonZero(grown & others) > 0;
    }
  }
  for (int c = 0; c < nc; ++c) {
    std::vector<std::string> shapes, free_shapes;
    double area_sum = 0;
    for (const auto& p : tracks[c]) {
      if (!p.present) continue;
      shapes.push_back(p.shape);
      if (!p.touching) free_shapes.push_back(p.shape);
      area_sum += p.area;
    }
    const double presence = static_cast<double>(shapes.size()) / n;
    if (presence < options.min_presence) continue;
    DetectedObject obj;
    obj.color = std::string(kObjectColors[c].name);
    obj.presence = presence;
    obj.mean_area = area_sum / shapes.size();
    obj.shape = Majority(free_shapes.empty() ? shapes : free_shapes, &obj.shape_consistency);
    obj.motion = ClassifyMotion(tracks[c], options.motion_frames);
    obj.track = std::move(tracks[c]);
    out.objects.push_back(std::move(obj));
  }
  std::sort(
      out.objects.begin(), out.objects.end(),
      [](const DetectedObject& a, const DetectedObject& b) { return a.mean_area > b.mean_area; });
  return out;
}

}  // namespace reel::eval
