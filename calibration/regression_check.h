// The regression check: is a candidate calibration slower than a baseline?
//
// Shape by shape, a candidate median is "slower" only when it rises by more than
// max(3%, 3 x the shape's relative noise) AND by more than 2 us: noise and launch jitter
// are not regressions. Per op (quadrant), the median over its shapes of the relative
// change decides: above 3% warns, above 10% fails; any single slower shape beyond 25%
// fails too. Two model files are compared the same way on the union of the shapes they
// were fitted on (their predictions; no noise).
//
//   CheckReport r = check_profiles(read_all("profiles/H100-SXM"), read_all(candidate));
//   std::puts(format_report(r, 10).c_str());  return r.failed ? 1 : 0;
#pragma once

#include <string>
#include <vector>

#include "calibration/profile.h"

namespace quadrant::calibration {

struct CheckThresholds {
  double shape_rise = 0.03;        // relative rise a slower shape must exceed ...
  double noise_multiple = 3.0;     // ... and this many times its relative noise ...
  double min_rise_ns = 2000;       // ... and this many nanoseconds
  double op_warn = 0.03;           // median rise of an op that warns
  double op_fail = 0.10;           // and that fails
  double shape_fail = 0.25;        // a single slower shape beyond this fails
  double median_confidence = 4.0;  // standard errors of an op's median (see .cc)
};

struct ShapeChange {
  std::string op, key;
  double baseline_ns = 0, candidate_ns = 0;
  double change = 0;     // candidate / baseline - 1
  double threshold = 0;  // relative rise it had to exceed
  bool slower = false, faster = false;
};

struct OpVerdict {
  std::string op;
  int matched = 0, only_baseline = 0, only_candidate = 0;
  int slower = 0, faster = 0;
  double median_change = 0;
  double median_error = 0;  // standard error of median_change
  std::string verdict;      // "ok", "warn", "FAIL"
};

struct CheckReport {
  std::vector<OpVerdict> ops;
  std::vector<ShapeChange> shapes;  // all matched shapes, worst (largest rise) first
  bool warned = false;
  bool failed = false;
  std::vector<std::string> notes;  // e.g. different GPUs, clocks
};

// Every profile under the given files/folders.
std::vector<Profile> read_profiles(const std::vector<std::string>& files_or_folders);

CheckReport check_profiles(const std::vector<Profile>& baseline,
                           const std::vector<Profile>& candidate, const CheckThresholds& t = {});
// Two model files (see fit.h) compared on the union of their fitted shapes.
CheckReport check_models(const std::string& baseline_file, const std::string& candidate_file,
                         const CheckThresholds& t = {});

// The per-op table and the `worst` shapes with the largest rise.
std::string format_report(const CheckReport& r, int worst);

}  // namespace quadrant::calibration
