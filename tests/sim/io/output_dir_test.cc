#include "sim/io/output_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "sim/core/error.h"

namespace quadrant::io {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test (ctest runs each test in its own process, in parallel).
class OutputDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("quadrant_output_dir_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  static std::string get(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream b;
    b << in.rdbuf();
    return b.str();
  }
  static std::set<std::string> names(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
  }
  // Expects an InputError naming the option and containing `what`; the folder's
  // content is unchanged.
  void expect_refused(const fs::path& target, const std::vector<std::string>& inputs,
                      const std::string& what) {
    const std::set<std::string> before =
        fs::is_directory(target) ? names(target) : std::set<std::string>{};
    try {
      OutputDir out(target.string(), "--out", inputs, "test");
      FAIL() << "accepted " << target;
    } catch (const InputError& e) {
      EXPECT_EQ(e.path(), "--out");
      EXPECT_NE(e.message().find(what), std::string::npos) << e.what();
    }
    if (fs::is_directory(target)) {
      EXPECT_EQ(names(target), before);
    }
  }

  fs::path root_;
};

TEST_F(OutputDirTest, WritesOnlyItsFilesAndAMarkerIntoANewFolder) {
  const fs::path t = root_ / "a" / "run";
  OutputDir out(t.string(), "--out", {}, "simulate");
  out.write("metrics.json", "{}\n");
  out.stream("requests.csv") << "id\n1\n";
  EXPECT_FALSE(fs::exists(t)) << "nothing is visible before commit";
  EXPECT_EQ(out.commit(), fs::absolute(t).lexically_normal().string());
  EXPECT_EQ(names(t), (std::set<std::string>{".quadrant-output", "metrics.json", "requests.csv"}));
  EXPECT_EQ(get(t / "requests.csv"), "id\n1\n");
  EXPECT_EQ(names(t.parent_path()), std::set<std::string>{"run"}) << "no staging left";
}

TEST_F(OutputDirTest, ReplacesAPreviousOutputWholly) {
  const fs::path t = root_ / "run";
  {
    OutputDir out(t.string(), "--out", {}, "simulate");
    out.write("metrics.json", "old");
    out.write("requests.csv", "old");
    out.commit();
  }
  {
    OutputDir out(t.string(), "--out", {}, "simulate");  // --no-requests
    out.write("metrics.json", "new");
    out.commit();
  }
  EXPECT_EQ(names(t), (std::set<std::string>{".quadrant-output", "metrics.json"}))
      << "a stale requests.csv must not survive";
  EXPECT_EQ(get(t / "metrics.json"), "new");
  EXPECT_EQ(names(root_), std::set<std::string>{"run"});
}

TEST_F(OutputDirTest, FilesInFoldersAreListedAndReplacedToo) {
  const fs::path t = root_ / "plan";
  {
    OutputDir out(t.string(), "--out", {}, "plan");
    out.write("report.md", "r");
    out.write("deploy/vllm.sh", "#!/bin/sh\n", true);
    out.commit();
  }
  EXPECT_NE(fs::status(t / "deploy" / "vllm.sh").permissions() & fs::perms::owner_exec,
            fs::perms::none);
  {
    OutputDir out(t.string(), "--out", {}, "plan");  // a plan without a recommendation
    out.write("report.md", "r2");
    out.commit();
  }
  EXPECT_FALSE(fs::exists(t / "deploy"));
  put(t / "deploy" / "mine.txt", "x");
  expect_refused(t, {}, "deploy");
  EXPECT_THROW(OutputDir(t.string() + "2", "--out", {}, "plan").write("../x", "y"), InputError);
  EXPECT_THROW(OutputDir(t.string() + "2", "--out", {}, "plan").write("a/.hidden", "y"),
               InputError);
}

TEST_F(OutputDirTest, AnEmptyFolderIsAccepted) {
  fs::create_directories(root_ / "empty");
  OutputDir out((root_ / "empty").string(), "--out", {}, "plan");
  out.write("report.md", "x");
  out.commit();
  EXPECT_EQ(get(root_ / "empty" / "report.md"), "x");
}

TEST_F(OutputDirTest, WithoutCommitNothingChanges) {
  const fs::path t = root_ / "run";
  {
    OutputDir out(t.string(), "--out", {}, "simulate");
    out.write("metrics.json", "old");
    out.commit();
  }
  {
    OutputDir out(t.string(), "--out", {}, "simulate");
    out.write("metrics.json", "half");
    // a failure: destroyed without commit
  }
  EXPECT_EQ(get(t / "metrics.json"), "old");
  EXPECT_EQ(names(root_), std::set<std::string>{"run"});
}

TEST_F(OutputDirTest, RefusesFoldersThatHoldOtherFiles) {
  put(root_ / "scenarios" / "x.json", "{}");  // `plan --out scenarios` deleted inputs
  expect_refused(root_ / "scenarios", {}, "not a Quadrant output");
  EXPECT_EQ(get(root_ / "scenarios" / "x.json"), "{}");
  // A previous output to which the user added a file.
  const fs::path t = root_ / "run";
  {
    OutputDir out(t.string(), "--out", {}, "simulate");
    out.write("metrics.json", "old");
    out.commit();
  }
  put(t / "notes.txt", "mine");
  expect_refused(t, {}, "did not write");
  EXPECT_EQ(get(t / "notes.txt"), "mine");
  // A file, a link, a root folder.
  put(root_ / "base.json", "{}");
  expect_refused(root_ / "base.json", {}, "is a file");
  fs::create_directory_symlink(root_ / "scenarios", root_ / "link");
  expect_refused(root_ / "link", {}, "symbolic link");
  expect_refused("/", {}, "root folder");
}

TEST_F(OutputDirTest, RefusesInputsAndFoldersHoldingThem) {
  const fs::path in = root_ / "run" / "trace.csv";
  fs::create_directories(root_ / "run");
  expect_refused(root_ / "run", {in.string()}, "holds an input");
  expect_refused(root_ / "run" / "trace.csv", {in.string()}, "is an input");
}

TEST_F(OutputDirTest, RefusesTheCurrentFolderAndItsParents) {
  const fs::path cwd = fs::current_path();
  fs::create_directories(root_ / "here");
  fs::current_path(root_ / "here");
  expect_refused(".", {}, "current folder");
  expect_refused("..", {}, "current folder");
  fs::current_path(cwd);
}

TEST_F(OutputDirTest, StagingOfADeadRunIsRemoved) {
  // A pid that is not running: the largest pid_max is 2^22.
  const fs::path stale = root_ / ".run.quadrant-staging.4194999";
  put(stale / "requests.csv", "partial");
  OutputDir out((root_ / "run").string(), "--out", {}, "simulate");
  EXPECT_FALSE(fs::exists(stale));
}

TEST_F(OutputDirTest, ScratchFolderLiesInTheStagingAndIsNeverPublished) {
  const fs::path t = root_ / "run";
  OutputDir out(t.string(), "--out", {}, "plan");
  const fs::path s = out.scratch("charts");
  ASSERT_TRUE(fs::is_directory(s));
  // Beside the target (in the staging folder, which a dead run's successor removes), not
  // in the system's temporary folder.
  EXPECT_EQ(s.parent_path().parent_path(), fs::absolute(root_).lexically_normal());
  EXPECT_NE(s.parent_path().filename().string().find(".run.quadrant-staging."), std::string::npos);
  put(s / "chart.gp", "set output");
  out.write("report.md", "x");
  out.commit();
  EXPECT_EQ(names(t), (std::set<std::string>{".quadrant-output", "report.md"}));
  EXPECT_EQ(names(root_), std::set<std::string>{"run"}) << "no staging or scratch left";
  for (const std::string bad : {"", "a/b", ".x", ".."}) {
    OutputDir other((root_ / "other").string(), "--out", {}, "plan");
    EXPECT_THROW(other.scratch(bad), InputError) << bad;
  }
}

TEST_F(OutputDirTest, OutputFileReplacesOnlyItsOwnKind) {
  const fs::path t = root_ / "trace.json";
  {
    OutputFile f(t.string(), "--trace", {}, "{\"displayTimeUnit\"");
    f.out() << "{\"displayTimeUnit\":1}";
    EXPECT_FALSE(fs::exists(t));
    f.commit();
  }
  EXPECT_EQ(get(t), "{\"displayTimeUnit\":1}");
  {
    OutputFile f(t.string(), "--trace", {}, "{\"displayTimeUnit\"");  // a previous trace
    f.out() << "{\"displayTimeUnit\":2}";
    f.commit();
  }
  EXPECT_EQ(get(t), "{\"displayTimeUnit\":2}");
  EXPECT_EQ(names(root_), std::set<std::string>{"trace.json"});
  put(root_ / "base.json", "{\"model\": 1}");
  EXPECT_THROW(OutputFile((root_ / "base.json").string(), "--trace", {}, "{\"displayTimeUnit\""),
               InputError);
  EXPECT_EQ(get(root_ / "base.json"), "{\"model\": 1}");
  EXPECT_THROW(OutputFile(t.string(), "--trace", {t.string()}, "{\"displayTimeUnit\""), InputError);
  EXPECT_THROW(OutputFile(root_.string(), "--trace", {}, "{\"displayTimeUnit\""), InputError);
}

}  // namespace
}  // namespace quadrant::io
