#include "reports/simulation_report.h"

#include <cstdio>
#include <string>

#include "reports/charts.h"
#include "reports/svg.h"
#include "sim/core/version.h"

namespace quadrant::reports {

namespace {

// Attention/FFN-disaggregated instances: each pool's GPUs and the share of the run they
// worked (measured: the simulated steps' pool times over the instance's lifetime). Empty
// without any, so that other pages keep their bytes.
std::string af_pools(const SimulationResult& r) {
  std::string rows;
  for (const InstanceSummary& i : r.instances) {
    if (i.ffn_gpus <= 0) continue;
    char b[320];
    std::snprintf(b, sizeof b,
                  "<tr><td>%s</td><td>%d x %s</td><td>%.1f%%</td><td>%d x %s</td><td>%.1f%%</td>"
                  "<td>%.1f%%</td></tr>\n",
                  escape_text(i.name).c_str(), i.gpus, escape_text(i.gpu).c_str(),
                  100 * i.attention_utilization, i.ffn_gpus, escape_text(i.ffn_gpu).c_str(),
                  100 * i.ffn_utilization, 100 * i.utilization);
    rows += b;
  }
  if (rows.empty()) return "";
  return "<section id=\"af\"><h2>Attention/FFN disaggregation</h2>\n<p>Each instance's "
         "attention pool (attention, its all-reduces, dense layers) and FFN pool (the experts) "
         "and the share of the instance's lifetime each worked in the simulated steps; the "
         "instance steps the rest of its busy time while micro-batches cross between the "
         "pools or wait for the other pool.</p>\n<table><tr><th>instance</th><th>attention "
         "GPUs</th><th>attention busy</th><th>FFN GPUs</th><th>FFN busy</th><th>instance "
         "stepping</th></tr>\n" +
         rows + "</table></section>\n";
}

// A one-page view of the run: its summary line and the charts (SVG inline), offline.
std::string simulation_page(const Scenario& s, uint64_t seed, const SimulationResult& r,
                            const std::string& charts) {
  const SimulationSummary& m = r.summary;
  char summary[512];
  std::snprintf(summary, sizeof summary,
                "%lld requests (%lld scored, %lld rejected); TTFT P50/P90/P99 %.0f / %.0f / %.0f "
                "ms; TPOT P50/P90/P99 %.1f / %.1f / %.1f ms; SLO attainment %.1f%%; $%.2f/h.",
                static_cast<long long>(m.requests_arrived),
                static_cast<long long>(m.requests_scored),
                static_cast<long long>(m.requests_rejected), m.ttft.p50 * 1e3, m.ttft.p90 * 1e3,
                m.ttft.p99 * 1e3, m.tpot.p50 * 1e3, m.tpot.p90 * 1e3, m.tpot.p99 * 1e3,
                100 * m.slo_attainment, m.usd_per_hour);
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
         "charset=\"utf-8\">\n<title>Simulation: " +
         escape_text(s.name) +
         "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 "
         "1em;color:#222}svg{max-width:100%;height:auto;display:block}figcaption{color:#555;"
         "font-size:0.9em}</style>\n</head>\n<body>\n<h1>Simulation: " +
         escape_text(s.name) + "</h1>\n<p>Seed " + std::to_string(seed) + " (git " +
         std::string(git_revision()) + "). " + escape_text(summary) +
         " Figures in metrics.json, one line per request in requests.csv.</p>\n" + af_pools(r) +
         charts + "</body>\n</html>\n";
}

constexpr const char* kNoChartsSection =
    "<section id=\"charts\"><h2>Charts</h2>\n<p>No charts: --no-charts.</p></section>\n";

}  // namespace

void add_simulation_report(const Scenario& s, uint64_t seed, const SimulationResult& r, bool charts,
                           io::OutputDir& out) {
  out.write("report.html", simulation_page(s, seed, r,
                                           charts ? stage_charts(simulation_charts(s, r), out)
                                                  : kNoChartsSection));
}

}  // namespace quadrant::reports
