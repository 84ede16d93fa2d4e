#pragma once
// Reads reel-tiny style videos back into attributes: segments flat-colored objects against the
// background, classifies color (palette distance), shape (contour geometry), motion (centroid and area
// tracks over the first frames) and measures how stable color and shape stay over the clip.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "opencv2/core.hpp"

namespace reel::eval {

struct ObjectTrackPoint {
  bool present = false;
  double cx = 0, cy = 0, area = 0;
  bool touching = false;  // touches another object (occlusion): its shape and area are unreliable
  std::string shape;      // per-frame shape label ("" when absent)
};

struct DetectedObject {
  std::string color;
  std::string shape;             // majority over the frames where present
  std::string motion;            // from the track over the first `motion_frames`
  double shape_consistency = 0;  // fraction of present frames whose shape equals `shape`
  double presence = 0;           // fraction of frames where the object is present
  double mean_area = 0;
  std::vector<ObjectTrackPoint> track;
};

struct VideoAnalysis {
  std::string background;
  double background_consistency = 0;  // fraction of frames whose background class equals it
  std::vector<DetectedObject> objects;  // sorted by mean area, largest first
};

struct AnalyzeOptions {
  int motion_frames = 16;    // the prompt describes the first 16 frames (data.py)
  double min_area = 10.0;    // pixels (64x64 frames); smaller blobs are noise
  double min_presence = 0.5; // fraction of frames an object must appear in
};

// frames: CV_8UC3 RGB, all the same size (at least 2 frames).
absl::StatusOr<VideoAnalysis> AnalyzeVideo(const std::vector<cv::Mat>& frames,
                                           const AnalyzeOptions& options = {});

// Shape of one binary mask (CV_8UC1, 255 = object); "" if it has no usable contour.
std::string ClassifyShape(const cv::Mat& mask);

}  // namespace reel::eval
