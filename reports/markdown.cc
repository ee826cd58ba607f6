// report.md: the plan sections as Markdown tables (report.h).
#include <string>

#include "reports/plan_sections.h"
#include "reports/report.h"

namespace quadrant::reports {

using planner::PlanResult;

namespace {

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

std::string report_markdown(const PlanResult& r) {
  std::string out = "# Capacity plan: " + r.scenario.name + "\n\n" + plan_header_line(r) + "\n";
  for (const Section& s : plan_sections(r)) {
    out += "\n## " + s.title + "\n\n";
    for (const std::string& p : s.paragraphs) out += p + "\n\n";
    for (const Table& t : s.tables) {
      out += "|";
      for (const auto& h : t.header) out.append(" ").append(md_cell(h)).append(" |");
      out += "\n|";
      for (size_t i = 0; i < t.header.size(); ++i) out += "---|";
      out += "\n";
      for (const auto& row : t.rows) {
        out += "|";
        for (const auto& cell : row) out.append(" ").append(md_cell(cell)).append(" |");
        out += "\n";
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace quadrant::reports
