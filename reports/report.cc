#include "reports/report.h"

#include <filesystem>
#include <string>

#include "reports/charts.h"

namespace quadrant::reports {

using planner::PlanResult;

void add_report(const PlanResult& r, io::OutputDir& out) {
  out.write("results.json", results_text(r));
  out.write("candidates.csv", candidates_csv(r));
  out.write("report.md", report_markdown(r));
  out.write("report.html", report_html(r, stage_charts(plan_charts(r), out)));
}

std::string write_report(const PlanResult& r, io::OutputDir& out) {
  add_report(r, out);
  return (std::filesystem::path(out.commit()) / "report.html").string();
}

std::string write_report(const PlanResult& r, const std::string& dir) {
  io::OutputDir out(dir, "--out", {}, "plan");
  return write_report(r, out);
}

}  // namespace quadrant::reports
