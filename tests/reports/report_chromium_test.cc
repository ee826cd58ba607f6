// Opens a report.html in headless Chromium (Debian's chromium package) and checks that it
// renders without console or script errors; a screenshot goes to a temporary folder, out
// of the repository. Skipped when chromium is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/charts.h"
#include "reports/report.h"
#include "sim/io/scenario_io.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::reports {
namespace {

namespace fs = std::filesystem;

std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (fs::exists(p)) return p;
  return "";
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Rendered {
  int status = -1;
  std::string dom, log;
};

// One headless run: `mode` is "--dump-dom" or "--screenshot=<file>".
Rendered render_page(const fs::path& page, const fs::path& work, const std::string& mode) {
  const fs::path profile = work / "profile";
  fs::create_directories(profile);
  const std::string cmd =
      chromium() +
      " --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run"
      " --disable-component-update --user-data-dir=" +
      profile.string() + " --enable-logging=stderr --v=0 --window-size=1200,2400 " + mode +
      " file://" + page.string() + " > " + (work / "out.txt").string() + " 2> " +
      (work / "log.txt").string();
  Rendered r;
  r.status = std::system(cmd.c_str());
  r.dom = slurp(work / "out.txt");
  r.log = slurp(work / "log.txt");
  return r;
}

// Console messages (errors and uncaught exceptions included) and the page's own error
// hook (report_html marks <html data-js-error=...>).
bool has_page_errors(const Rendered& r) {
  return r.log.find("CONSOLE") != std::string::npos ||
         r.log.find("Uncaught") != std::string::npos ||
         r.dom.find("data-js-error=\"") != std::string::npos;
}

class ChromiumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (chromium().empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
    // One folder per test and process: CTest may run them at once, and so may other
    // checkouts on the machine.
    work_ = fs::temp_directory_path() /
            (std::string("quadrant-chromium-test-") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
             std::to_string(getpid()));
    fs::remove_all(work_);
    fs::create_directories(work_);
    planner::PlanOptions o;
    o.bound = testing::toy_bound;
    const auto r =
        planner::plan(testing::toy_scenario(), testing::fluid_evaluator(testing::toy_times()), o);
    page_ = write_report(r, (work_ / "report").string());
  }
  fs::path work_, page_;
};

TEST_F(ChromiumTest, ReportRendersWithoutConsoleErrors) {
  const Rendered r = render_page(page_, work_, "--dump-dom");
  ASSERT_EQ(r.status, 0) << r.log;
  EXPECT_NE(r.dom.find("Recommended plan"), std::string::npos);
  EXPECT_NE(r.dom.find("<svg"), std::string::npos);
  EXPECT_FALSE(has_page_errors(r)) << r.log;
}

TEST_F(ChromiumTest, TheCheckCatchesABrokenPage) {
  // The same report with a script that throws: the check above must see it.
  std::string html = slurp(page_);
  html.insert(html.find("</body>"), "<script>undefined_function();</script>\n");
  const fs::path broken = work_ / "broken.html";
  std::ofstream(broken) << html;
  const Rendered r = render_page(broken, work_, "--dump-dom");
  ASSERT_EQ(r.status, 0) << r.log;
  EXPECT_TRUE(has_page_errors(r));
}

TEST_F(ChromiumTest, ScreenshotIsTakenOutsideTheRepository) {
  const fs::path shot = work_ / "report.png";
  const Rendered r = render_page(page_, work_, "--screenshot=" + shot.string());
  ASSERT_EQ(r.status, 0) << r.log;
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 10000u);
  std::printf("screenshot: %s\n", shot.c_str());
}

// Every chart of a plan judged by the simulator (scenarios/examples/toy.json) is in the
// page, laid out with a size and drawn paths, and its PNG loads: a script added to a copy
// of the page writes what it measured into an attribute that --dump-dom shows.
TEST_F(ChromiumTest, EveryChartRenders) {
  if (!gnuplot_available())
    GTEST_SKIP() << "gnuplot is not installed (apt-get install gnuplot-nox)";
  const Scenario s = load_scenario("scenarios/examples/toy.json");
  planner::PlanOptions o;
  o.threads = 2;
  const auto r = planner::plan(s, planner::simulation_evaluator(roofline_cost_models(s)), o);
  const std::string page = write_report(r, (work_ / "simulated").string());
  std::string html = slurp(page);
  std::string names;
  for (const Chart& c : plan_charts(r)) {
    bool data = false;
    for (const ChartSeries& x : c.series) data = data || !x.points.empty();
    if (data) names += (names.empty() ? "" : ",") + c.name;
  }
  ASSERT_FALSE(names.empty());
  const std::string probe =
      "<script>window.addEventListener('load', function () {"
      " var out = [];"
      " '" +
      names +
      "'.split(',').forEach(function (n) {"
      "  var f = document.getElementById('chart-' + n);"
      "  var svg = f ? f.querySelector('svg') : null;"
      "  var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};"
      "  var paths = svg ? svg.querySelectorAll('path').length : 0;"
      "  out.push(n + ':' + Math.round(box.width) + 'x' + Math.round(box.height) + ':' + paths);"
      " });"
      " var imgs = document.querySelectorAll('img.probe'); var loaded = 0;"
      " imgs.forEach(function (i) { if (i.naturalWidth > 0) loaded++; });"
      " document.documentElement.setAttribute('data-charts', out.join(' '));"
      " document.documentElement.setAttribute('data-png', loaded + '/' + imgs.length);"
      "});</script>\n";
  std::string imgs;
  for (size_t a = 0, b; a <= names.size(); a = b + 1) {
    b = names.find(',', a);
    if (b == std::string::npos) b = names.size();
    imgs += "<img class=\"probe\" src=\"charts/" + names.substr(a, b - a) + ".png\">\n";
  }
  html.insert(html.find("</body>"), imgs + probe);
  const fs::path probed = fs::path(page).parent_path() / "probed.html";
  std::ofstream(probed) << html;
  const Rendered d = render_page(probed, work_, "--dump-dom");
  ASSERT_EQ(d.status, 0) << d.log;
  EXPECT_FALSE(has_page_errors(d)) << d.log;
  const size_t at = d.dom.find("data-charts=\"");
  ASSERT_NE(at, std::string::npos) << "the probe did not run";
  std::stringstream charts(d.dom.substr(at + 13, d.dom.find('"', at + 13) - at - 13));
  int count = 0;
  for (std::string one; charts >> one; ++count) {
    int w = 0, h = 0, paths = 0;
    char name[64] = {0};
    ASSERT_EQ(std::sscanf(one.c_str(), "%63[^:]:%dx%d:%d", name, &w, &h, &paths), 4) << one;
    EXPECT_GT(w, 100) << one;
    EXPECT_GT(h, 50) << one;
    EXPECT_GT(paths, 3) << one;
  }
  EXPECT_EQ(count, static_cast<int>(std::count(names.begin(), names.end(), ',')) + 1);
  EXPECT_GE(count, 9);  // the nine views, each with data in a simulated plan
  const size_t png = d.dom.find("data-png=\"");
  ASSERT_NE(png, std::string::npos);
  const std::string loaded = d.dom.substr(png + 10, d.dom.find('"', png + 10) - png - 10);
  EXPECT_EQ(loaded, std::to_string(count) + "/" + std::to_string(count));
}

}  // namespace
}  // namespace quadrant::reports
