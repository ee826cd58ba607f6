#include "calibration/link_model.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "calibration/json_path.h"
#include "sim/core/error.h"

namespace quadrant::calibration {

namespace {

// min sum ((a + b x) / t - 1)^2 with a, b >= 0.
void fit_line(const std::vector<LinkPoint>& p, double* a, double* b) {
  Eigen::MatrixXd m(p.size(), 2);
  Eigen::VectorXd y = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(p.size()));
  for (size_t i = 0; i < p.size(); ++i) {
    m(static_cast<Eigen::Index>(i), 0) = 1.0 / p[i].median_ns;
    m(static_cast<Eigen::Index>(i), 1) = p[i].bytes / p[i].median_ns;
  }
  Eigen::Vector2d s = m.colPivHouseholderQr().solve(y);
  *a = s(0);
  *b = s(1);
  if (*a < 0 || *b <= 0) {
    // One term alone: pure bandwidth or pure latency, whichever fits.
    double sb = 0, sbb = 0;
    for (const LinkPoint& q : p) {
      sb += q.bytes / q.median_ns;
      sbb += (q.bytes / q.median_ns) * (q.bytes / q.median_ns);
    }
    *a = 0;
    *b = sb / sbb;
  }
}

}  // namespace

FittedLink fit_link(const std::string& path, const std::vector<LinkPoint>& points, int folds) {
  if (points.size() < 4)
    throw InputError("", path,
                     "at least 4 message sizes are needed, got " + std::to_string(points.size()));
  std::vector<LinkPoint> sorted = points;
  std::sort(sorted.begin(), sorted.end(),
            [](const LinkPoint& x, const LinkPoint& y) { return x.bytes < y.bytes; });
  const int k = std::clamp(folds, 2, static_cast<int>(sorted.size()));
  std::vector<double> errs;
  for (int fold = 0; fold < k; ++fold) {
    std::vector<LinkPoint> train, test;
    for (size_t i = 0; i < sorted.size(); ++i)
      (static_cast<int>(i % static_cast<size_t>(k)) == fold ? test : train).push_back(sorted[i]);
    double a, b;
    fit_line(train, &a, &b);
    for (const LinkPoint& q : test) errs.push_back(std::abs((a + b * q.bytes) / q.median_ns - 1));
  }
  double a, b;
  fit_line(sorted, &a, &b);
  FittedLink l;
  l.path = path;
  l.latency = Duration::nanos(static_cast<int64_t>(std::llround(a)));
  l.bandwidth = BytesPerSec(1e9 / b);
  l.heldout = error_stats(errs);
  return l;
}

std::vector<FittedLink> fit_link_profile(const std::string& file) {
  Json j = load_json(file);
  Node root(j, file);
  if (root.string("kind") != "quadrant-link-profile")
    root.at("kind").fail("expected \"quadrant-link-profile\", got \"" + root.string("kind") + "\"");
  std::vector<FittedLink> out;
  Node paths = root.at("paths");
  for (size_t i = 0; i < paths.size(); ++i) {
    Node p = paths.at(i);
    std::vector<LinkPoint> pts;
    Node ps = p.at("points");
    for (size_t k = 0; k < ps.size(); ++k)
      pts.push_back({ps.at(k).at("bytes").positive(), ps.at(k).at("median_ns").positive()});
    try {
      out.push_back(fit_link(p.string("path"), pts));
    } catch (const InputError& e) {
      throw InputError(file, p.path() + ".points", e.message());
    }
  }
  return out;
}

std::string links_to_json(const std::vector<FittedLink>& links, const std::string& source) {
  Json j = {{"schema_version", 1}, {"kind", "quadrant-link-model"}, {"source", source}};
  Json ls = Json::array();
  for (const FittedLink& l : links)
    ls.push_back(
        {{"path", l.path},
         {"latency_ns", l.latency.ns()},
         {"bandwidth_bytes_per_s", l.bandwidth.value()},
         {"heldout",
          {{"median", l.heldout.median}, {"p95", l.heldout.p95}, {"count", l.heldout.count}}}});
  j["links"] = ls;
  return j.dump(1);
}

}  // namespace quadrant::calibration
