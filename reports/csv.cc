// candidates.csv: one row per configuration measured and per sized plan (report.h).
#include <cstdio>
#include <string>
#include <utility>

#include "reports/report.h"

namespace quadrant::reports {

using planner::ConfigStatus;
using planner::PlanCandidate;
using planner::PlanResult;
using planner::RoleCapacity;

std::string candidates_csv(const PlanResult& r) {
  auto q = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  auto num = [](double v) {
    char b[48];
    std::snprintf(b, sizeof b, "%.6g", v);
    return std::string(b);
  };
  // TTFT and TPOT at the SLO's percentiles, the columns named after them: ttft_p90_s.
  const SloSpec& slo = r.scenario.slo;
  auto column = [](const char* what, double percentile) {
    std::string p = percentile_name(percentile);
    p[0] = 'p';
    return std::string(what) + "_" + p + "_s";
  };
  std::string out =
      "kind,label,status,gpus,bound_rate_per_s,measured_rate_per_s,prefill_instances,"
      "decode_instances,colocated_instances,usd_per_hour," +
      column("ttft", slo.ttft_percentile) + "," + column("tpot", slo.tpot_percentile) +
      ",slo_attainment,meets_slo,simulations,note\n";
  for (const auto& [kind, pool] : {std::pair{"prefill", &r.prefill}, std::pair{"decode", &r.decode},
                                   std::pair{"colocated", &r.colocated}}) {
    for (const RoleCapacity& c : *pool) {
      const bool m = c.status == ConfigStatus::kMeasured;
      out += std::string(kind) + "," + q(c.config.label()) + "," + to_string(c.status) + "," +
             std::to_string(c.config.gpus()) + "," +
             (c.bound.feasible ? num(c.bound.max_rate_per_s) : "") + "," +
             (m ? num(c.rate_per_s) : "") + ",,,," + (m ? num(c.usd_per_hour) : "") + "," +
             (m ? num(c.at_capacity.ttft.at(slo.ttft_percentile)) : "") + "," +
             (m ? num(c.at_capacity.tpot.at(slo.tpot_percentile)) : "") + "," +
             (m ? num(c.at_capacity.slo_attainment) : "") + ",," + std::to_string(c.simulations) +
             "," + q(c.note) + "\n";
    }
  }
  for (const PlanCandidate& c : r.candidates) {
    const planner::SeedsSummary w = planner::worst_of_seeds(c.runs, slo);
    const bool run = !c.runs.empty();
    out += std::string("plan_") + to_string(c.mode) + "," + q(c.label()) + "," +
           (c.confirmed ? (c.meets_slo ? "confirmed" : "missed_slo") : "estimated") + "," +
           std::to_string(c.gpus) + ",," + num(c.capacity_rps) + "," +
           std::to_string(c.prefill_instances) + "," + std::to_string(c.decode_instances) + "," +
           std::to_string(c.colocated_instances) + "," + num(c.usd_per_hour) + "," +
           (run ? num(w.ttft_at_slo) : "") + "," + (run ? num(w.tpot_at_slo) : "") + "," +
           (run ? num(w.attainment) : "") + "," +
           (c.confirmed ? (c.meets_slo ? "true" : "false") : "") + "," +
           std::to_string(c.runs.size()) + "," +
           q(std::string(c.repairs > 0 ? std::to_string(c.repairs) + " instances added" : "") +
             (c.edge_checked
                  ? std::string(c.repairs > 0 ? "; " : "") +
                        (c.holds_at_edge ? "holds" : "misses") + " at the pessimistic edge" +
                        (c.edge_repairs > 0
                             ? " (" + std::to_string(c.edge_repairs) + " instances added for it)"
                             : "")
                  : "")) +
           "\n";
  }
  return out;
}

}  // namespace quadrant::reports
