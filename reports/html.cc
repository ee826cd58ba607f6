// report.html: the plan sections as one self-contained page, SVG inline (report.h).
#include <string>

#include "reports/plan_sections.h"
#include "reports/report.h"
#include "reports/svg.h"

namespace quadrant::reports {

using planner::PlanResult;

std::string report_html(const PlanResult& r) {
  return report_html(r, "");
}

std::string report_html(const PlanResult& r, const std::string& charts_section) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // Any script error marks the page, so a headless browser test can see it.
      "<script>window.addEventListener('error', function (e) { "
      "document.documentElement.setAttribute('data-js-error', String(e.message)); });</script>\n"
      "<title>Capacity plan: " +
      escape_xml(r.scenario.name) +
      "</title>\n<style>\n"
      "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\n"
      "table{border-collapse:collapse;margin:0.8em 0;font-size:0.88em}\n"
      "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left;vertical-align:top}\n"
      "th{background:#f2f2f2}\nh2{border-bottom:1px solid "
      "#ddd;padding-bottom:0.2em;margin-top:1.6em}\n"
      ".meta{color:#555;font-size:0.9em}\nsvg{max-width:100%;height:auto;display:block;margin:0."
      "5em 0}\n"
      "</style>\n</head>\n<body>\n<h1>Capacity plan: " +
      escape_xml(r.scenario.name) + "</h1>\n<p class=\"meta\">" + escape_xml(plan_header_line(r)) +
      "</p>\n";
  const std::vector<Section> all = plan_sections(r);
  for (const Section& s : all) {
    out += "<section>\n<h2>" + escape_xml(s.title) + "</h2>\n";
    for (const std::string& p : s.paragraphs) out += "<p>" + escape_xml(p) + "</p>\n";
    for (const Table& t : s.tables) {
      out += "<table>\n<tr>";
      for (const auto& h : t.header) out += "<th>" + escape_xml(h) + "</th>";
      out += "</tr>\n";
      for (const auto& row : t.rows) {
        out += "<tr>";
        for (const auto& cell : row) out += "<td>" + escape_xml(cell) + "</td>";
        out += "</tr>\n";
      }
      out += "</table>\n";
    }
    for (const std::string& svg : s.svgs) out += svg;
    out += "</section>\n";
    // The charts right after the recommended plan: what a planner reads first.
    if (&s == &all.front()) out += charts_section;
  }
  out +=
      "<p class=\"meta\">Files beside this one: report.md (the same tables), results.json "
      "(every candidate, schema_version " +
      std::to_string(kResultsSchemaVersion) + "), candidates.csv.</p>\n</body>\n</html>\n";
  return out;
}

}  // namespace quadrant::reports
