#include "reports/simulation_report.h"

#include <cstdio>
#include <string>

#include "reports/charts.h"
#include "reports/svg.h"
#include "sim/core/version.h"

namespace quadrant::reports {

namespace {

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
         " Figures in metrics.json, one line per request in requests.csv.</p>\n" + charts +
         "</body>\n</html>\n";
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
