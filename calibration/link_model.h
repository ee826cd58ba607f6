// The link model KV transfers use: t = latency + bytes / bandwidth, fitted per path
// ("nvlink_peer": cudaMemcpyPeerAsync between two GPUs of a node; "host_staged": device to
// pinned host to device, a stand-in for a NIC path) by least squares on relative error,
// with its held-out error.
//
// Link profile: {"schema_version":1,"kind":"quadrant-link-profile","device":"...",
//   "paths":[{"path":"nvlink_peer","points":[{"bytes":4096,"median_ns":..,"count":..},..]}]}
#pragma once

#include <string>
#include <vector>

#include "calibration/fit.h"
#include "sim/core/units.h"

namespace quadrant::calibration {

struct LinkPoint {
  double bytes = 0;
  double median_ns = 0;
};

struct FittedLink {
  std::string path;
  Duration latency;
  BytesPerSec bandwidth;
  ErrorStats heldout;
  Duration predict(Bytes b) const { return latency + b / bandwidth; }
};

FittedLink fit_link(const std::string& path, const std::vector<LinkPoint>& points, int folds = 5);
// Fits every path of a link profile file.
std::vector<FittedLink> fit_link_profile(const std::string& file);
std::string links_to_json(const std::vector<FittedLink>& links, const std::string& source);

}  // namespace quadrant::calibration
