// Opens a report.html in headless Chromium (Debian's chromium package) and checks that it
// renders without console or script errors; a screenshot goes to a temporary folder, out
// of the repository. Skipped when chromium is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/report.h"
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

}  // namespace
}  // namespace quadrant::reports
