#include "calibration/regression_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "calibration/fit.h"
#include "sim/core/error.h"

namespace quadrant::calibration {

std::vector<Profile> read_profiles(const std::vector<std::string>& files_or_folders) {
  std::vector<Profile> out;
  for (const std::string& f : files_or_folders)
    for (const std::string& file : profile_files(f)) out.push_back(read_profile(file));
  return out;
}

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

ShapeChange compare(const std::string& op, const std::string& key, double base_ns, double cand_ns,
                    double noise, const CheckThresholds& t) {
  ShapeChange c;
  c.op = op;
  c.key = key;
  c.baseline_ns = base_ns;
  c.candidate_ns = cand_ns;
  c.change = cand_ns / base_ns - 1;
  c.threshold = std::max(t.shape_rise, t.noise_multiple * noise);
  c.slower = c.change > c.threshold && cand_ns - base_ns > t.min_rise_ns;
  c.faster = -c.change > c.threshold && base_ns - cand_ns > t.min_rise_ns;
  return c;
}

void conclude(CheckReport& r, const CheckThresholds& t) {
  for (OpVerdict& v : r.ops) {
    std::vector<double> changes;
    bool shape_failed = false;
    for (const ShapeChange& c : r.shapes) {
      if (c.op != v.op) continue;
      changes.push_back(c.change);
      v.slower += c.slower;
      v.faster += c.faster;
      shape_failed = shape_failed || (c.slower && c.change > t.shape_fail);
    }
    v.median_change = median_of(changes);
    // The median of n noisy changes is itself uncertain (standard error 1.2533 sigma /
    // sqrt n, sigma from the MAD of the changes): a quadrant fails once its median rise
    // cannot be told apart from op_fail at four standard errors, so that a planted 10%
    // slowdown measured with noise fails whichever way the noise fell.
    std::vector<double> dev;
    for (double c : changes) dev.push_back(std::abs(c - v.median_change));
    const double sigma = 1.4826 * median_of(dev);
    v.median_error = changes.empty() ? 0 : 1.2533 * sigma / std::sqrt(double(changes.size()));
    const double upper = v.median_change + t.median_confidence * v.median_error;
    v.verdict = "ok";
    if (v.median_change > t.op_warn || v.slower > 0) v.verdict = "warn";
    if ((v.median_change > t.op_warn && upper >= t.op_fail) || shape_failed) v.verdict = "FAIL";
    r.warned = r.warned || v.verdict != "ok";
    r.failed = r.failed || v.verdict == "FAIL";
  }
  std::stable_sort(r.shapes.begin(), r.shapes.end(),
                   [](const ShapeChange& a, const ShapeChange& b) { return a.change > b.change; });
}

}  // namespace

CheckReport check_profiles(const std::vector<Profile>& baseline,
                           const std::vector<Profile>& candidate, const CheckThresholds& t) {
  CheckReport r;
  // op -> shape key -> (profile, shape)
  using Index = std::map<std::string, std::map<std::string, const ProfileShape*>>;
  auto index = [](const std::vector<Profile>& ps) {
    Index ix;
    for (const Profile& p : ps)
      for (const ProfileShape& s : p.shapes) ix[p.quadrant][shape_key(s)] = &s;
    return ix;
  };
  const Index b = index(baseline), c = index(candidate);
  if (!baseline.empty() && !candidate.empty() &&
      baseline.front().device.gpu != candidate.front().device.gpu)
    r.notes.push_back("baseline GPU " + baseline.front().device.gpu + " != candidate GPU " +
                      candidate.front().device.gpu);
  std::map<std::string, OpVerdict> ops;
  for (const auto& [op, shapes] : b) {
    OpVerdict& v = ops[op];
    v.op = op;
    auto other = c.find(op);
    for (const auto& [key, s] : shapes) {
      const ProfileShape* o = nullptr;
      if (other != c.end()) {
        auto it = other->second.find(key);
        if (it != other->second.end()) o = it->second;
      }
      if (!o) {
        ++v.only_baseline;
        continue;
      }
      ++v.matched;
      const double noise = std::max(s->relative_noise(), o->relative_noise());
      ShapeChange ch = compare(op, key, s->median_ns, o->median_ns, noise, t);
      // A clock well below the baseline's explains a slowdown that the kernel did not cause.
      if (s->sm_clock_mhz > 0 && o->sm_clock_mhz > 0 && o->sm_clock_mhz < 0.95 * s->sm_clock_mhz)
        r.notes.push_back(op + " " + key + ": SM clock " + std::to_string(int(o->sm_clock_mhz)) +
                          " MHz vs baseline " + std::to_string(int(s->sm_clock_mhz)) + " MHz");
      r.shapes.push_back(ch);
    }
  }
  for (const auto& [op, shapes] : c) {
    OpVerdict& v = ops[op];
    v.op = op;
    auto base = b.find(op);
    for (const auto& [key, s] : shapes)
      if (base == b.end() || !base->second.count(key)) ++v.only_candidate;
  }
  for (auto& [op, v] : ops) {
    if (v.matched == 0) r.notes.push_back(op + ": no shape in common; nothing compared");
    r.ops.push_back(v);
  }
  conclude(r, t);
  return r;
}

CheckReport check_models(const std::string& baseline_file, const std::string& candidate_file,
                         const CheckThresholds& t) {
  const ModelFile b = read_model(baseline_file), c = read_model(candidate_file);
  CheckReport r;
  // Each model prices its own points' features; under other plan rules a shape's features
  // differ between the two, and a change may be the rules', not the kernels'.
  if (!(b.plan_rules == c.plan_rules))
    r.notes.push_back("plan rules differ (baseline " +
                      kernels::plan::rules_description(b.plan_rules) + "; candidate " +
                      kernels::plan::rules_description(c.plan_rules) +
                      "): a shape's features differ between the models");
  std::map<std::string, OpVerdict> ops;
  for (const ComponentModel& bm : b.components) {
    const std::string op =
        bm.component + (bm.variant.empty() ? "" : "[" + bm.variant + "]") + "/" + bm.format;
    OpVerdict& v = ops[op];
    v.op = op;
    const ComponentModel* cm = c.find(bm.component, bm.format, bm.variant);
    if (!cm) {
      r.notes.push_back(op + ": not in the candidate model");
      continue;
    }
    std::vector<Sample> shapes = bm.points;
    shapes.insert(shapes.end(), cm->points.begin(), cm->points.end());
    if (shapes.empty()) {
      // Parametric models keep no points: compare at the corners of the common range.
      for (const Features& x : {bm.lo, bm.hi}) shapes.push_back({x, 0, 0, ""});
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Features& x = shapes[i].x;
      char key[96];
      std::snprintf(key, sizeof key, "F=%.3g B=%.3g", x.flops, x.bytes);
      r.shapes.push_back(compare(op, key, bm.predict_ns(x), cm->predict_ns(x), 0, t));
      ++v.matched;
    }
  }
  for (auto& [op, v] : ops) r.ops.push_back(v);
  conclude(r, t);
  return r;
}

std::string format_report(const CheckReport& r, int worst) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %7s %6s %6s %6s %7s %16s  %s\n", "op", "matched",
                "only-b", "only-c", "slower", "faster", "median change", "verdict");
  out += line;
  for (const OpVerdict& v : r.ops) {
    std::snprintf(line, sizeof line, "%-20s %7d %6d %6d %6d %7d %+8.1f%% +-%4.1f%%  %s\n",
                  v.op.c_str(), v.matched, v.only_baseline, v.only_candidate, v.slower, v.faster,
                  100 * v.median_change, 100 * v.median_error, v.verdict.c_str());
    out += line;
  }
  if (!r.shapes.empty() && worst > 0) {
    out += "\nworst shapes (largest rise first):\n";
    std::snprintf(line, sizeof line, "  %-20s %12s %12s %8s %7s  %s\n", "op", "baseline_us",
                  "candidate_us", "change", "thresh", "shape");
    out += line;
    for (int i = 0; i < worst && i < static_cast<int>(r.shapes.size()); ++i) {
      const ShapeChange& c = r.shapes[static_cast<size_t>(i)];
      std::snprintf(line, sizeof line, "  %-20s %12.2f %12.2f %+7.1f%% %6.1f%%  %s%s\n",
                    c.op.c_str(), c.baseline_ns / 1e3, c.candidate_ns / 1e3, 100 * c.change,
                    100 * c.threshold, c.key.c_str(), c.slower ? "  SLOWER" : "");
      out += line;
    }
  }
  for (const std::string& n : r.notes) out += "note: " + n + "\n";
  out += r.failed ? "result: FAIL\n" : r.warned ? "result: pass with warnings\n" : "result: pass\n";
  return out;
}

}  // namespace quadrant::calibration
