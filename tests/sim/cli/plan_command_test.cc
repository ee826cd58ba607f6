// `quadrant plan` end to end, with the real simulator: the report does not depend on the
// thread count or on the number of MPI ranks, bad input leaves nothing behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;

constexpr const char* kScenario = "scenarios/examples/distserve-like.json";
const char* const kFiles[] = {"results.json", "candidates.csv", "report.md", "report.html"};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path work_dir() {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-plan-command-test-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

int run(const std::string& prefix, const std::string& args, const fs::path& out) {
  const std::string cmd = prefix + QUADRANT_BIN " plan " + args + " --quiet > " +
                          (out.string() + ".stdout") + " 2> " + (out.string() + ".stderr");
  return std::system(cmd.c_str());
}

TEST(PlanCommandTest, ReportIsByteIdenticalForOneAndTwoThreads) {
  const fs::path d = work_dir();
  fs::remove_all(d / "t1");
  fs::remove_all(d / "t2");
  ASSERT_EQ(run("", std::string(kScenario) + " --threads 1 --out " + (d / "t1").string(), d / "t1"),
            0)
      << slurp(d / "t1.stderr");
  ASSERT_EQ(run("", std::string(kScenario) + " --threads 2 --out " + (d / "t2").string(), d / "t2"),
            0)
      << slurp(d / "t2.stderr");
  for (const char* f : kFiles) {
    const std::string a = slurp(d / "t1" / f);
    EXPECT_GT(a.size(), 100u) << f;
    EXPECT_EQ(a, slurp(d / "t2" / f)) << f;
  }
  // The one line on stdout is the report's path.
  EXPECT_EQ(slurp(d / "t1.stdout"), fs::absolute(d / "t1" / "report.html").string() + "\n");
}

TEST(PlanCommandTest, MpiRanksGatherTheSameReport) {
#ifndef QUADRANT_HAVE_MPI
  GTEST_SKIP() << "built without MPI (apt-get install openmpi-bin libopenmpi-dev)";
#else
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  const fs::path d = work_dir();
  fs::remove_all(d / "single");
  fs::remove_all(d / "mpi");
  ASSERT_EQ(run("", std::string(kScenario) + " --threads 1 --out " + (d / "single").string(),
                d / "single"),
            0);
  const std::string mpirun =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader "
      "mpirun -np 2 --oversubscribe ";
  ASSERT_EQ(
      run(mpirun, std::string(kScenario) + " --threads 1 --out " + (d / "mpi").string(), d / "mpi"),
      0)
      << slurp(d / "mpi.stderr");
  for (const char* f : kFiles) EXPECT_EQ(slurp(d / "single" / f), slurp(d / "mpi" / f)) << f;
  // Only rank 0 wrote and printed.
  EXPECT_EQ(slurp(d / "mpi.stdout"), fs::absolute(d / "mpi" / "report.html").string() + "\n");
#endif
}

TEST(PlanCommandTest, BadInputIsOneErrorAndNoReport) {
  const fs::path d = work_dir();
  fs::remove_all(d / "bad");
  EXPECT_NE(run("", "scenarios/no-such-scenario.json --out " + (d / "bad").string(), d / "bad"), 0);
  EXPECT_FALSE(fs::exists(d / "bad"));
  EXPECT_NE(slurp(d / "bad.stderr").find("no-such-scenario.json"), std::string::npos);
  EXPECT_NE(
      run("", std::string(kScenario) + " --threads 0 --out " + (d / "bad").string(), d / "bad"), 0);
  EXPECT_NE(slurp(d / "bad.stderr").find("--threads"), std::string::npos);
  EXPECT_FALSE(fs::exists(d / "bad"));
}

}  // namespace
