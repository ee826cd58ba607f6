#include "sim/cli/plan_summary.h"

#include <algorithm>

namespace quadrant::cli {

namespace {

std::string pool_line(const planner::RoleConfig& c, int instances) {
  const Layout& l = c.layout;
  char b[200];
  if (c.af.enabled()) {  // attention/FFN disaggregated: both pools of an instance
    std::snprintf(b, sizeof b,
                  "%d x (%d %s attention TP%d DP%d + %d %s FFN EP%d, %d micro-batches)", instances,
                  l.gpus(), c.gpu.c_str(), l.tp, l.dp_attention, c.af.ffn_gpus,
                  c.af.ffn_gpu.c_str(), c.af.ffn_gpus, c.af.micro_batches);
    return b;
  }
  std::snprintf(b, sizeof b, "%d x %d %s (TP%d EP%d PP%d%s)", instances, c.gpus(), c.gpu.c_str(),
                l.tp, l.ep, l.pp,
                l.dp_attention > 1 ? (" DP" + std::to_string(l.dp_attention)).c_str() : "");
  return b;
}

}  // namespace

void print_plan_summary(const planner::PlanResult& r, const std::string& out_dir, std::FILE* to) {
  const Scenario& s = r.scenario;
  std::fprintf(to,
               "plan      %s\n          %s at %.2f req/s; SLO TTFT %s <= %.0f ms, TPOT %s <= "
               "%.0f ms\n",
               s.name.c_str(), s.model.name.c_str(), r.target_rate_per_s,
               percentile_name(s.slo.ttft_percentile).c_str(), s.slo.ttft.to_millis(),
               percentile_name(s.slo.tpot_percentile).c_str(), s.slo.tpot.to_millis());
  if (r.recommended < 0) {
    std::fprintf(to, "result    no candidate met the SLOs (see the report)\n");
  } else {
    const planner::PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
    if (c.mode == ServingMode::kColocated) {
      std::fprintf(to, "cluster   colocated %s\n",
                   pool_line(c.colocated, c.colocated_instances).c_str());
    } else {
      std::fprintf(to, "cluster   prefill %s\n          decode  %s\n",
                   pool_line(c.prefill, c.prefill_instances).c_str(),
                   pool_line(c.decode, c.decode_instances).c_str());
    }
    const planner::SeedsSummary w = planner::worst_of_seeds(c.runs, s.slo);
    std::fprintf(to, "cost      %d GPUs, $%.2f/h, $%.3f per million tokens\n", c.gpus,
                 c.usd_per_hour, w.usd_per_million_tokens);
    std::fprintf(to,
                 "latency   TTFT %s %.0f ms, TPOT %s %.1f ms, SLO attainment %.1f%% "
                 "(worst of %zu simulated seeds)\n",
                 percentile_name(s.slo.ttft_percentile).c_str(), w.ttft_at_slo * 1e3,
                 percentile_name(s.slo.tpot_percentile).c_str(), w.tpot_at_slo * 1e3,
                 100 * w.attainment, c.runs.size());
    std::fprintf(to, "rule      %s\n", r.recommendation_rule.c_str());
    if (r.nominal_best >= 0 && r.nominal_best != r.recommended) {
      const planner::PlanCandidate& f = r.candidates[static_cast<size_t>(r.nominal_best)];
      const planner::SeedsSummary n = planner::worst_of_seeds(f.runs, s.slo);
      std::fprintf(to,
                   "fragile   %s: $%.2f/h ($%.2f/h less), TPOT %s %.1f ms at nominal costs, "
                   "misses the SLOs at the pessimistic edge\n",
                   f.label().c_str(), f.usd_per_hour, c.usd_per_hour - f.usd_per_hour,
                   percentile_name(s.slo.tpot_percentile).c_str(), n.tpot_at_slo * 1e3);
    }
  }
  std::fprintf(to, "files     %s/report.html%s\n", out_dir.c_str(),
               r.recommended >= 0 ? ", deploy/ (vLLM, SGLang, Dynamo, benchmark)" : "");
}

}  // namespace quadrant::cli
