// A killed run leaves either the previous complete outputs or the new complete ones.
// `quadrant simulate` and `quadrant plan` are killed (SIGKILL) at every point of the
// output protocol (QUADRANT_KILL_AT=k, sim/io/output_dir.h) and at random instants of the
// whole run; after each kill the output folder must equal one of the two complete
// outputs, byte for byte, and the next run must succeed and leave nothing behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

namespace {

namespace fs = std::filesystem;
using Content = std::map<std::string, std::string>;  // file name -> bytes

Content content(const fs::path& dir) {
  Content c;
  if (!fs::is_directory(dir)) return c;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().lexically_relative(dir).generic_string();
    if (e.is_directory()) {
      c[name + "/"] = "";
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream b;
    b << in.rdbuf();
    c[name] = b.str();
  }
  return c;
}

// Runs quadrant with `args` and TMPDIR = `tmp`; `kill_at` > 0 sets QUADRANT_KILL_AT,
// `kill_after_ms` >= 0 sends SIGKILL after that long. Returns the wait status.
int run(const std::string& args, const fs::path& tmp, int kill_at, int kill_after_ms = -1) {
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("TMPDIR", tmp.c_str(), 1);
    if (kill_at > 0) setenv("QUADRANT_KILL_AT", std::to_string(kill_at).c_str(), 1);
    const std::string cmd = std::string("exec ") + QUADRANT_BIN + " " + args + " >/dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (kill_after_ms >= 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    kill(pid, SIGKILL);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

class KillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("quadrant_kill_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tmp");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Kills `new_args` (which writes to {OUT}) at every protocol point (at least
  // `min_points` of them) and at `timed` random instants, starting each time from the
  // output of `old_args`.
  void sweep(const std::string& old_args, const std::string& new_args, int min_points, int timed) {
    const fs::path tmp =
        dir_ / "tmp";  // the runs' temporary folder: a killed one leaves nothing there
    const auto with_out = [](std::string a, const fs::path& out) {
      return a.replace(a.find("{OUT}"), 5, out.string());
    };
    ASSERT_EQ(run(with_out(old_args, dir_ / "old"), tmp, 0), 0);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(run(with_out(new_args, dir_ / "new"), tmp, 0), 0);
    const int run_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    const Content old_c = content(dir_ / "old"), new_c = content(dir_ / "new");
    ASSERT_NE(old_c, new_c);
    const fs::path t = dir_ / "t";
    auto check_after_kill = [&](const std::string& what) {
      const Content c = content(t);
      EXPECT_TRUE(c == old_c || c == new_c)
          << what << ": a mix of outputs or a partial one (" << c.size() << " files)";
      // The next run succeeds, gives the new outputs and leaves no staging behind.
      EXPECT_TRUE(fs::is_empty(tmp)) << what << ": left files in the temporary folder";
      EXPECT_EQ(run(with_out(new_args, t), tmp, 0), 0) << what;
      EXPECT_EQ(content(t), new_c) << what;
      for (const auto& e : fs::directory_iterator(dir_))
        EXPECT_EQ(e.path().filename().string().find(".t.quadrant-"), std::string::npos)
            << what << ": left " << e.path();
      EXPECT_TRUE(fs::is_empty(tmp)) << what << ": the next run left files in the temporary folder";
    };
    int points = 0;
    for (int k = 1; k < 100; ++k) {
      fs::remove_all(t);
      fs::copy(dir_ / "old", t, fs::copy_options::recursive);
      const int status = run(with_out(new_args, t), tmp, k);
      if (WIFEXITED(status)) {
        EXPECT_EQ(WEXITSTATUS(status), 0);
        EXPECT_EQ(content(t), new_c);
        break;
      }
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
      ++points;
      check_after_kill("kill point " + std::to_string(k));
    }
    EXPECT_GE(points, min_points) << "kill points of the output protocol";
    std::mt19937 rng(7);
    for (int i = 0; i < timed; ++i) {
      fs::remove_all(t);
      fs::copy(dir_ / "old", t, fs::copy_options::recursive);
      const int ms = static_cast<int>(rng() % static_cast<unsigned>(run_ms + 20));
      run(with_out(new_args, t), tmp, 0, ms);
      check_after_kill("killed after " + std::to_string(ms) + " ms");
    }
    RecordProperty("kill_points", points);
    std::printf("%d protocol kill points + %d timed kills\n", points, timed);
  }

  fs::path dir_;
};

TEST_F(KillTest, SimulateLeavesOldOrNewOutputs) {
  // The new run writes no requests.csv: a stale one must not survive beside it.
  sweep("simulate scenarios/examples/toy.json --out {OUT} --seed 1 --quiet",
        "simulate scenarios/examples/toy.json --out {OUT} --seed 2 --no-requests --quiet", 7, 12);
}

TEST_F(KillTest, PlanLeavesOldOrNewReport) {
  sweep("plan tests/fuzz/corpus/base.json --out {OUT} --threads 1 --quiet",
        "plan scenarios/examples/toy.json --out {OUT} --threads 1 --quiet", 14, 6);
}

// A run killed while it draws a chart takes the chart's process with it: nothing the killed
// run started may write after it is gone, as the next run clears its staging folder away. The
// fake gnuplot marks that it started, sleeps, then marks again; only the first mark may appear.
TEST_F(KillTest, ChartsDieWithTheRun) {
  const fs::path fake = dir_ / "gnuplot.sh";
  const fs::path started = dir_ / "started", late = dir_ / "late";
  std::ofstream(fake) << "[ \"$1\" = --version ] && exit 0\n: > " << started.string()
                      << "\nsleep 2\n: > " << late.string() << "\n";
  const std::string cmd = std::string("exec ") + QUADRANT_BIN +
                          " simulate scenarios/examples/toy.json --out " + (dir_ / "t").string() +
                          " --seed 1 --quiet >/dev/null 2>&1";
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("QUADRANT_GNUPLOT", ("sh " + fake.string()).c_str(), 1);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 6000 && !fs::exists(started); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const bool drew = fs::exists(started);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(drew) << "the run never started its chart process";
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  EXPECT_FALSE(fs::exists(late)) << "the chart process outlived the killed run";
}

}  // namespace
