#include "reports/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/svg.h"
#include "sim/core/error.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::reports {
namespace {

namespace fs = std::filesystem;

planner::PlanResult toy_plan(int threads) {
  planner::PlanOptions o;
  o.threads = threads;
  o.bound = testing::toy_bound;
  return planner::plan(testing::toy_scenario(), testing::fluid_evaluator(testing::toy_times()), o);
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() /
                     ("quadrant-report-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

TEST(ReportTest, OutputIsByteIdenticalForAnyThreadCount) {
  const fs::path base = fresh_dir("threads");
  write_report(toy_plan(1), (base / "one").string());
  write_report(toy_plan(2), (base / "two").string());
  for (const char* f : {"results.json", "candidates.csv", "report.md", "report.html"}) {
    const std::string a = slurp(base / "one" / f), b = slurp(base / "two" / f);
    EXPECT_FALSE(a.empty()) << f;
    EXPECT_EQ(a, b) << f;
  }
  fs::remove_all(base);
}

TEST(ReportTest, ResultsJsonDescribesItselfAndListsEveryCandidate) {
  const planner::PlanResult r = toy_plan(1);
  const nlohmann::json j = nlohmann::json::parse(results_text(r));
  EXPECT_EQ(j.at("schema_version"), kResultsSchemaVersion);
  EXPECT_EQ(j.at("seed"), r.scenario.seed);
  EXPECT_TRUE(j.at("git_revision").is_string());
  EXPECT_EQ(j.at("scenario").at("name"), "toy");
  EXPECT_EQ(j.at("candidates").size(), r.candidates.size());
  EXPECT_EQ(j.at("configurations").at("decode").size(), r.decode.size());
  EXPECT_EQ(j.at("recommended"), r.recommended);
  const auto& best = j.at("candidates").at(r.recommended);
  EXPECT_DOUBLE_EQ(best.at("usd_per_hour").get<double>(), 5.0);
  EXPECT_EQ(best.at("runs").size(), 2u);
  EXPECT_EQ(best.at("runs").at(0).at("cost_sources").at("T1"), "test-double:fluid");
}

TEST(ReportTest, CsvHasOneRowPerConfigurationAndPlan) {
  const planner::PlanResult r = toy_plan(1);
  const std::string csv = candidates_csv(r);
  const size_t lines = static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n'));
  EXPECT_EQ(lines,
            1 + r.prefill.size() + r.decode.size() + r.colocated.size() + r.candidates.size());
  const size_t header_commas = std::count(csv.begin(), csv.begin() + csv.find('\n'), ',');
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    // Labels hold no commas or quotes, so every row splits into the header's columns.
    EXPECT_EQ(static_cast<size_t>(std::count(line.begin(), line.end(), ',')), header_commas)
        << line;
  }
}

// The CSV's and the report's latency columns are those of the SLO's percentiles (they
// were P90 whatever the SLO named).
TEST(ReportTest, LatencyColumnsAreNamedAfterTheSlosPercentiles) {
  Scenario s = testing::toy_scenario();
  s.slo.ttft_percentile = 95;
  s.slo.tpot_percentile = 75;
  planner::PlanOptions o;
  o.bound = testing::toy_bound;
  const planner::PlanResult r = planner::plan(s, testing::fluid_evaluator(testing::toy_times()), o);
  const std::string csv = candidates_csv(r);
  const std::string header = csv.substr(0, csv.find('\n'));
  EXPECT_NE(header.find(",ttft_p95_s,tpot_p75_s,"), std::string::npos) << header;
  const std::string md = report_markdown(r);
  EXPECT_NE(md.find("TTFT P95 (SLO"), std::string::npos);
  EXPECT_NE(md.find("TPOT P75 (SLO"), std::string::npos);
  EXPECT_EQ(md.find("P99 (SLO"), std::string::npos);
  EXPECT_NE(candidates_csv(toy_plan(1)).find(",ttft_p90_s,tpot_p90_s,"), std::string::npos);
}

TEST(ReportTest, HtmlIsSelfContainedAndCarriesTheMarkdownTables) {
  const planner::PlanResult r = toy_plan(1);
  const std::string html = report_html(r);
  const std::string md = report_markdown(r);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_GE(std::count(html.begin(), html.end(), '\n'), 50);
  size_t svgs = 0;
  for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  size_t ends = 0;
  for (size_t p = html.find("</svg>"); p != std::string::npos; p = html.find("</svg>", p + 1))
    ++ends;
  EXPECT_GE(svgs, 4u);
  EXPECT_EQ(svgs, ends);
  for (const char* title :
       {"Recommended plan", "Disaggregated against colocated", "Heterogeneous against homogeneous",
        "Best P:D ratio", "Pareto frontier", "Sensitivity to load",
        "Where the numbers come from"}) {
    EXPECT_NE(html.find(title), std::string::npos) << title;
    EXPECT_NE(md.find(title), std::string::npos) << title;
  }
  // Every markdown table row's cells appear, escaped, in the HTML.
  std::istringstream in(md);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind("| ", 0) != 0) continue;
    const size_t a = 2, b = line.find(" |", a);
    const std::string first = line.substr(a, b - a);
    if (first.find('\\') != std::string::npos) continue;
    EXPECT_NE(html.find(escape_xml(first)), std::string::npos) << first;
    ++rows;
  }
  EXPECT_GT(rows, 10);
  EXPECT_NE(html.find("test-double:fluid"), std::string::npos);  // provenance shown
}

TEST(ReportTest, AFailedWriteLeavesNoPartialReport) {
  const fs::path base = fresh_dir("fail");
  fs::create_directories(base);
  std::ofstream(base / "blocker") << "a file where the parent folder should be";
  const fs::path out = base / "blocker" / "report";
  EXPECT_THROW(write_report(toy_plan(1), out.string()), InputError);
  EXPECT_FALSE(fs::exists(out));
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(base)) entries += e.path().filename() != "blocker";
  EXPECT_EQ(entries, 0u);
  fs::remove_all(base);
}

TEST(ReportTest, ReplacingAnOldReportLeavesOnlyTheNewOne) {
  const fs::path base = fresh_dir("replace");
  const fs::path out = base / "r";
  write_report(toy_plan(2), out.string());
  // A previous report is replaced whole: a file only the old one had does not survive.
  std::ofstream(out / ".quadrant-output", std::ios::app) << "file stale.txt\n";
  std::ofstream(out / "stale.txt") << "old";
  const std::string html = write_report(toy_plan(1), out.string());
  EXPECT_TRUE(fs::exists(html));
  EXPECT_FALSE(fs::exists(out / "stale.txt"));
  size_t siblings = 0;
  for (const auto& e : fs::directory_iterator(base)) siblings += e.path() != out;
  EXPECT_EQ(siblings, 0u);  // no staging or old folder left behind
  fs::remove_all(base);
}

// A folder holding anything Quadrant did not write is never replaced: `plan --out
// scenarios` once deleted the scenarios.
TEST(ReportTest, AFolderOfOtherFilesIsRefusedAndKept) {
  const fs::path base = fresh_dir("refuse");
  const fs::path out = base / "r";
  fs::create_directories(out);
  std::ofstream(out / "notes.txt") << "mine";
  EXPECT_THROW(write_report(toy_plan(1), out.string()), InputError);
  EXPECT_TRUE(fs::exists(out / "notes.txt"));
  EXPECT_FALSE(fs::exists(out / "report.html"));
  fs::remove_all(base);
}

// scenario.reference: the report compares the recommended plan's nodes with the published
// deployment's, nodes = instances x GPUs per instance / GPUs per node, and the ratio.
TEST(ReportTest, PublishedComparisonCountsNodesOfThePlan) {
  planner::PlanResult r = toy_plan(1);
  ASSERT_GE(r.recommended, 0);
  EXPECT_EQ(report_markdown(r).find("Against the published deployment"), std::string::npos);
  planner::PlanCandidate& c = r.candidates[r.recommended];
  c.mode = ServingMode::kDisaggregated;
  c.prefill.layout = Layout{.tp = 1, .ep = 1, .pp = 1, .dp_attention = 32};
  c.decode.layout = Layout{.tp = 1, .ep = 1, .pp = 1, .dp_attention = 144};
  c.prefill.af = {};
  c.decode.af = {};
  c.prefill_instances = 21;
  c.decode_instances = 7;
  r.scenario.cluster.gpus_per_node = 8;
  r.scenario.reference = {
      .source = "the paper", .nodes = 226.75, .prefill_nodes = 95.5, .decode_nodes = 131};
  const std::string md = report_markdown(r);
  ASSERT_NE(md.find("## Against the published deployment"), std::string::npos);
  // 21 x 32 / 8 = 84 prefill nodes, 7 x 144 / 8 = 126 decode nodes, 210 in all.
  EXPECT_NE(md.find("| nodes | 210 | 226.75 | 0.93x |"), std::string::npos) << md;
  EXPECT_NE(md.find("| prefill nodes | 84 | 95.5 | 0.88x |"), std::string::npos);
  EXPECT_NE(md.find("| decode nodes | 126 | 131 | 0.96x |"), std::string::npos);
  EXPECT_NE(md.find("Source: the paper."), std::string::npos);
}

// The plan ranked first at nominal costs, shown beside a robust recommendation, is called
// cheaper only when it is: plans of one price rank by their other figures.
TEST(ReportTest, AFragilePlanOfTheSamePriceIsNotCalledCheaper) {
  planner::PlanResult r = toy_plan(1);
  ASSERT_GE(r.recommended, 0);
  ASSERT_GE(r.candidates.size(), 2u);
  const int other = r.recommended == 0 ? 1 : 0;
  r.nominal_best = other;
  planner::PlanCandidate& f = r.candidates[static_cast<size_t>(other)];
  const double price = r.candidates[static_cast<size_t>(r.recommended)].usd_per_hour;
  f.usd_per_hour = price;
  std::string md = report_markdown(r);
  EXPECT_NE(md.find("| same price, fragile |"), std::string::npos) << md;
  EXPECT_NE(md.find(") costs the same, "), std::string::npos);
  EXPECT_EQ(md.find("cheaper, fragile"), std::string::npos);
  EXPECT_EQ(md.find("The cheaper plan ("), std::string::npos);
  f.usd_per_hour = price - 1;
  md = report_markdown(r);
  EXPECT_NE(md.find("| cheaper, fragile |"), std::string::npos) << md;
  EXPECT_NE(md.find("/h less ("), std::string::npos);
}

// A scenario-given prefix hit rate gets its section: the recommended prefill configuration
// computes only the misses of the mean prompt (1000 tokens, 50% hits in whole 16-token
// blocks: 496 cached, 504 computed), which take less roofline time than the whole prompt.
TEST(ReportTest, PrefixHitRateModelShowsTheMissesComputed) {
  planner::PlanResult r = toy_plan(1);
  ASSERT_GE(r.recommended, 0);
  EXPECT_EQ(report_markdown(r).find("Prefix cache: hit-rate model"), std::string::npos);
  const bool colocated = r.candidates[r.recommended].mode == ServingMode::kColocated;
  (colocated ? r.scenario.serving.colocated : r.scenario.serving.prefill).prefix_hit_rate = 0.5;
  const std::string md = report_markdown(r);
  const size_t at = md.find("## Prefix cache: hit-rate model");
  ASSERT_NE(at, std::string::npos);
  const size_t row = md.find("| 1000 | 504 | ", at);
  ASSERT_NE(row, std::string::npos) << md.substr(at, 2000);
  const std::string line = md.substr(row, md.find('\n', row) - row);
  const size_t x = line.rfind("| ");
  EXPECT_GT(std::stod(line.substr(x + 2)), 1.0) << line;  // without / with hits
}

TEST(SvgTest, EscapesTextAndDrawsEveryPoint) {
  EXPECT_EQ(escape_xml("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
  LineChart c{.title = "t <1>", .x_label = "x", .y_label = "y"};
  c.series.push_back({.name = "s", .points = {{1, 2}, {2, 4}, {3, 1}}});
  c.guides.push_back({3, "SLO"});
  const std::string svg = render(c);
  EXPECT_NE(svg.find("t &lt;1&gt;"), std::string::npos);
  size_t circles = 0;
  for (size_t p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1))
    ++circles;
  EXPECT_EQ(circles, 3u);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  // No data draws a placeholder, never NaN coordinates.
  const std::string empty = render(LineChart{.title = "e"});
  EXPECT_NE(empty.find("no data"), std::string::npos);
  EXPECT_EQ(empty.find("nan"), std::string::npos);
  BarChart b{.title = "b", .y_label = "USD"};
  b.bars = {{.label = "x", .value = 2}, {.label = "y", .value = 3, .highlight = true}};
  const std::string bars = render(b);
  EXPECT_EQ(bars.find("nan"), std::string::npos);
  EXPECT_NE(bars.find("#009E73"), std::string::npos);
}

TEST(SvgTest, NumbersHaveAFixedShortForm) {
  EXPECT_EQ(format_number(0), "0");
  EXPECT_EQ(format_number(12.345), "12.35");
  EXPECT_EQ(format_number(1234.5), "1234.5");
  EXPECT_EQ(format_number(0.0451), "0.0451");
  EXPECT_EQ(format_number(2.5e6), "2.5e+06");
}

}  // namespace
}  // namespace quadrant::reports
