#include "calibration/lt_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "calibration/json_path.h"

namespace quadrant::calibration {

LtPlanTable LtPlanTable::read(const std::string& file) {
  return parse(load_json(file), file);
}

LtPlanTable LtPlanTable::parse(const Json& doc, const std::string& where) {
  LtPlanTable t;
  t.file_ = where;
  const Node root(doc, where);
  if (root.at("kind").string() != "quadrant-cublaslt-plans")
    root.at("kind").fail("expected \"quadrant-cublaslt-plans\"");
  if (root.integer("schema_version") != 1) root.at("schema_version").fail("expected 1");
  t.gpu_ = root.at("gpu").string();
  const Node plans = root.at("plans");
  for (const char* fmt : {"bf16", "fp8"}) {
    if (!plans.has(fmt)) continue;
    const Node list = plans.at(fmt);
    for (size_t i = 0; i < list.size(); ++i) {
      const Node e = list.at(i);
      const int n = static_cast<int>(e.integer("n")), k = static_cast<int>(e.integer("k"));
      if (n < 1 || k < 1) e.fail("expected n and k >= 1");
      std::vector<Run>& runs = t.pairs_[{fmt, n, k}];
      const Node rs = e.at("runs");
      if (rs.size() == 0) rs.fail("expected at least one run");
      for (size_t j = 0; j < rs.size(); ++j) {
        const Node r = rs.at(j);
        if (r.size() != 4) r.fail("expected [m_from, tile_n, tile_m, splits]");
        Run run{static_cast<double>(r.at(0).integer()), static_cast<int>(r.at(1).integer()),
                static_cast<int>(r.at(2).integer()), static_cast<int>(r.at(3).integer())};
        if (run.m_from < 1 || run.tile_n < 1 || run.tile_m < 1 || run.splits < 1)
          r.fail("expected positive integers");
        if (!runs.empty() && run.m_from <= runs.back().m_from)
          r.at(0).fail("expected m_from increasing within a pair");
        runs.push_back(run);
      }
    }
  }
  if (t.pairs_.empty()) plans.fail("expected at least one (n, k) pair");
  return t;
}

LtPlanChoice LtPlanTable::find(const std::string& format, double m, double n, double k) const {
  const std::string fmt = format == "fp8" ? "fp8" : "bf16";
  LtPlanChoice c;
  const std::vector<Run>* runs = nullptr;
  const auto it =
      pairs_.find({fmt, static_cast<int>(std::lround(n)), static_cast<int>(std::lround(k))});
  if (it != pairs_.end() && std::abs(n - std::round(n)) < 1e-9 &&
      std::abs(k - std::round(k)) < 1e-9) {
    runs = &it->second;
    c.exact = true;
  } else {
    double best = std::numeric_limits<double>::infinity();
    for (const auto& [key, r] : pairs_) {
      if (std::get<0>(key) != fmt) continue;
      const double dn = std::log(std::get<1>(key) / std::max(1.0, n));
      const double dk = std::log(std::get<2>(key) / std::max(1.0, k));
      if (dn * dn + dk * dk < best) {
        best = dn * dn + dk * dk;
        runs = &r;
      }
    }
  }
  if (!runs) return c;
  auto run = std::upper_bound(runs->begin(), runs->end(), m,
                              [](double v, const Run& r) { return v < r.m_from; });
  if (run != runs->begin()) --run;
  c.tile_n = run->tile_n;
  c.tile_m = run->tile_m;
  c.splits = run->splits;
  return c;
}

KernelPlan dense_gemm_lt_plan(double m, double n, double k, double element_bytes,
                              const LtPlanChoice& c) {
  KernelPlan p;
  p.path = "cublaslt";
  p.slots = kPlanSms;
  const double tiles = std::ceil(n / c.tile_n) * std::ceil(m / c.tile_m);
  p.ctas = tiles * c.splits;
  p.waves = std::ceil(p.ctas / p.slots - 1e-9);
  const double k_share = std::ceil(k / c.splits);
  p.sched_flops = kPlanSms * p.waves * 2.0 * c.tile_n * c.tile_m * k_share;
  p.crit_bytes = kPlanSms * p.waves * (c.tile_n + c.tile_m) * k_share * element_bytes;
  p.aux_bytes = m * n * 2 + (c.splits > 1 ? 2.0 * m * n * 4 * c.splits : 0);
  return p;
}

}  // namespace quadrant::calibration
