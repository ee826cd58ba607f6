// The views a capacity planner reads first, drawn by gnuplot (Debian's gnuplot-nox) as
// SVG (inlined in report.html) and PNG files: TTFT and TPOT percentiles against the
// request rate with the knee marked, latency CDFs, KV occupancy and batch size over time
// and utilisation per instance, cost per million tokens against SLO tightness, and GPU
// types compared.
//
//   std::vector<Chart> charts = plan_charts(plan_result);
//   RenderedCharts r = render_charts(charts, "out/plan/charts");   // x.svg, x.png each
//
// Each chart says where its numbers came from (its `source` line, shown under it).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/engine/simulation.h"
#include "sim/io/output_dir.h"
#include "sim/planner/planner.h"

namespace quadrant::reports {

struct ChartSeries {
  std::string title;
  std::vector<std::pair<double, double>> points;
  std::string style = "linespoints";  // gnuplot: lines, linespoints, steps, boxes
};

struct Chart {
  std::string name;  // file stem and HTML id: "ttft_vs_rate"
  std::string title, xlabel, ylabel;
  std::vector<ChartSeries> series;
  std::vector<std::pair<double, std::string>> x_marks;  // vertical lines (knee, target)
  std::vector<std::pair<double, std::string>> y_marks;  // horizontal lines (SLO)
  bool log_y = false;
  std::vector<std::string> categories;  // bar charts: x = 0, 1, ... named by these
  std::string source;                   // where the numbers came from
};

// gnuplot on the PATH (QUADRANT_GNUPLOT overrides its name; tests use it).
bool gnuplot_available();

struct RenderedCharts {
  std::map<std::string, std::string> svg;  // by chart name, ready to inline in HTML
  std::vector<std::string> files;          // written, relative to the folder
};

// Writes DIR/<name>.svg and DIR/<name>.png for every chart with data; throws InputError
// when gnuplot fails. Without gnuplot: nothing, and an empty result.
RenderedCharts render_charts(const std::vector<Chart>& charts, const std::string& dir);

// The charts of a plan, and of one simulation (`quadrant simulate`).
std::vector<Chart> plan_charts(const planner::PlanResult& r);
std::vector<Chart> simulation_charts(const Scenario& s, const SimulationResult& r);

// An HTML section with the rendered charts (their SVG inline, source lines under them),
// or a line saying why there are none.
std::string charts_html(const std::vector<Chart>& charts, const RenderedCharts& rendered);

// The charts drawn in a scratch folder inside `out`'s staging (removed after), their files staged
// in `out` as charts/<name>.svg and .png, and their charts_html section returned.
std::string stage_charts(const std::vector<Chart>& charts, io::OutputDir& out);

}  // namespace quadrant::reports
