// The plan report's content, apart from its formats: each section a title, paragraphs,
// tables and plots, built once from the PlanResult and written by the Markdown
// (markdown.cc) and HTML (html.cc) writers. Internal to reports/.
//
//   for (const Section& s : plan_sections(r)) write(s.title, s.paragraphs, s.tables);
#pragma once

#include <string>
#include <vector>

#include "sim/planner/planner.h"

namespace quadrant::reports {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Section {
  std::string title;
  std::vector<std::string> paragraphs;
  std::vector<Table> tables;
  std::vector<std::string> svgs;  // HTML only
};

// The sections in reading order (how sure, the recommended plan, the alternatives, the
// analyses, every configuration measured).
std::vector<Section> plan_sections(const planner::PlanResult& r);
// One line under the title: scenario, target rate, objective, seed, simulations, revision.
std::string plan_header_line(const planner::PlanResult& r);

}  // namespace quadrant::reports
