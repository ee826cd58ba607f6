// The capacity report of a plan: report.html (self-contained, inline SVG plots, opens
// offline), report.md (the same tables), results.json (every candidate with its metrics,
// the resolved scenario, seed, schema version, git revision) and candidates.csv.
//
//   PlanResult r = planner::plan(scenario, evaluate, options);
//   write_report(r, "out/plan");   // out/plan/report.html, ... or nothing at all
//
// Outputs describe themselves and nothing in them depends on the machine, the thread
// count or the wall clock: the same plan gives byte-identical files.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "sim/io/output_dir.h"
#include "sim/planner/planner.h"

namespace quadrant::reports {

inline constexpr int kResultsSchemaVersion = 1;

nlohmann::json scenario_json(const Scenario& s);  // the resolved scenario
nlohmann::json results_json(const planner::PlanResult& r);
std::string results_text(const planner::PlanResult& r);  // results.json's bytes
std::string candidates_csv(const planner::PlanResult& r);
std::string report_markdown(const planner::PlanResult& r);
std::string report_html(const planner::PlanResult& r);
// The same with an HTML section (charts_html) placed after the recommended plan.
std::string report_html(const planner::PlanResult& r, const std::string& charts_section);

// Stages the four files in `out` (published by out.commit(): the folder is replaced
// whole, a failure or a kill leaves the previous report).
void add_report(const planner::PlanResult& r, io::OutputDir& out);
// add_report and commit; returns the path of report.html. Throws InputError when the
// folder cannot be written.
std::string write_report(const planner::PlanResult& r, io::OutputDir& out);
// The same into `dir`, checked as an output folder of a run with no inputs to protect.
std::string write_report(const planner::PlanResult& r, const std::string& dir);

}  // namespace quadrant::reports
