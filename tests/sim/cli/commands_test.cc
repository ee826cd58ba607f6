// The `quadrant` program's exit paths (sim/cli/main.cc, commands.h), on the built binary:
// a check that finds a regression leaves through CLI11's exit path with status 1 and
// prints nothing more than its report; a passing check exits 0; a bad command line and
// bad input print one line on stderr and exit 1.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Outcome quadrant(const std::string& args) {
  const fs::path base =
      fs::temp_directory_path() / ("quadrant-commands-test-" + std::to_string(::getpid()));
  const std::string cmd =
      QUADRANT_BIN " " + args + " > " + base.string() + ".stdout 2> " + base.string() + ".stderr";
  const int raw = std::system(cmd.c_str());
  Outcome r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(base.string() + ".stdout");
  r.err = slurp(base.string() + ".stderr");
  fs::remove(base.string() + ".stdout");
  fs::remove(base.string() + ".stderr");
  return r;
}

TEST(CommandsTest, AFailedCheckExitsOneThroughTheExitPathWithNothingOnStderr) {
  // Two collections of a bimodal H200 kernel that the check must catch (the test data of
  // calibration_check_catches_bimodal_h200_kernel, tests/calibration/CMakeLists.txt; the
  // committed H200-recheck set passes since every op of it was collected again).
  const Outcome r = quadrant(
      "calibrate check --baseline tests/calibration/data/h200-bimodal/baseline --candidate "
      "tests/calibration/data/h200-bimodal/candidate");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CommandsTest, APassingCheckExitsZero) {
  const Outcome r = quadrant(
      "calibrate check --baseline calibration/profiles/H100-SXM --candidate "
      "calibration/profiles/H100-SXM-recheck");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(CommandsTest, BadCommandLineAndBadInputPrintOneLineAndExitOne) {
  for (const char* args :
       {"simulate", "plan --no-such-flag x.json", "calibrate", "validate no-such-file.json",
        "calibrate check --baseline no-such-folder --candidate no-such-folder"}) {
    const Outcome r = quadrant(args);
    EXPECT_EQ(r.status, 1) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("quadrant: error: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(CommandsTest, ValidateWritesTheResolvedScenarioWhichValidatesAgain) {
  const fs::path out = fs::temp_directory_path() /
                       ("quadrant-commands-test-" + std::to_string(::getpid()) + "-resolved.json");
  fs::remove(out);
  const Outcome a = quadrant("validate scenarios/examples/toy.json --resolved " + out.string());
  ASSERT_EQ(a.status, 0) << a.err;
  const Outcome b = quadrant("validate " + out.string());
  EXPECT_EQ(b.status, 0) << b.err;
  // The summaries agree but for the file's name.
  EXPECT_EQ(a.out.substr(a.out.find('\n', a.out.find("seed"))),
            b.out.substr(b.out.find('\n', b.out.find("seed"))));
  fs::remove(out);
  // Never over an input.
  const Outcome c =
      quadrant("validate scenarios/examples/toy.json --resolved scenarios/examples/toy.json");
  EXPECT_EQ(c.status, 1);
}

TEST(CommandsTest, EveryCommandIsListedInHelpOrder) {
  const Outcome r = quadrant("--help");
  EXPECT_EQ(r.status, 0);
  size_t at = 0;
  for (const char* name : {"validate", "schema", "simulate", "plan", "calibrate", "import-model",
                           "bench-check", "engine"}) {
    const size_t found = r.out.find(std::string("\n  ") + name + " ", at);
    EXPECT_NE(found, std::string::npos) << name << " missing or out of order:\n" << r.out;
    if (found != std::string::npos) at = found;
  }
}

}  // namespace
