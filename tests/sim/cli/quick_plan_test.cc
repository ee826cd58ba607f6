// From a Hugging Face config.json to a report and launch files in two commands
// (`quadrant import-model`, then `quadrant plan --model ... --rate ... --gpus ...`), and
// the quick flags' contract: a new folder per run without --out, the scenario written
// beside the report, one error and nothing left behind for a bad flag.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A fresh folder to run in (the quick flags name their output folder in the current one).
fs::path work_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("quadrant-quick-plan-test-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Runs `quadrant ARGS` in `dir`; stdout and stderr land in dir/out.txt and dir/err.txt.
int quadrant(const fs::path& dir, const std::string& args) {
  const std::string cmd = "cd " + dir.string() + " && " + fs::absolute(QUADRANT_BIN).string() +
                          " " + args + " > out.txt 2> err.txt";
  return std::system(cmd.c_str());
}

TEST(QuickPlanTest, ConfigJsonToReportAndLaunchFilesInTwoCommands) {
  const fs::path d = work_dir("two-commands");
  const std::string config =
      fs::absolute("scenarios/models/hf/mixtral-8x7b-v0.1/config.json").string();
  ASSERT_EQ(quadrant(d, "import-model " + config + " --out mixtral.json"), 0)
      << slurp(d / "err.txt");
  ASSERT_EQ(quadrant(d,
                     "plan --model mixtral.json --rate 4 --ttft 2s --tpot 100ms --gpus "
                     "H100,A100 --out plan --threads 2"),
            0)
      << slurp(d / "err.txt");
  for (const char* f :
       {"report.html", "report.md", "results.json", "scenario.json", "deploy/vllm.sh",
        "deploy/sglang.sh", "deploy/dynamo.yaml", "deploy/benchmark.sh", "deploy/expected.json"})
    EXPECT_TRUE(fs::exists(d / "plan" / f)) << f;
  // The flags reached the scenario, and the scenario the report.
  const nlohmann::json s = nlohmann::json::parse(slurp(d / "plan" / "scenario.json"));
  EXPECT_EQ(s.at("slo").at("tpot"), "100ms");
  EXPECT_EQ(s.at("search").at("target_rate"), 4);
  EXPECT_EQ(s.at("search").at("decode_gpus"), nlohmann::json({"H100-SXM", "A100-80GB"}));
  const nlohmann::json r = nlohmann::json::parse(slurp(d / "plan" / "results.json"));
  EXPECT_EQ(r.at("scenario").at("model").at("name"), "mixtral-8x7b-v0.1");
  EXPECT_EQ(slurp(d / "out.txt"), fs::absolute(d / "plan" / "report.html").string() + "\n");
  EXPECT_NE(slurp(d / "err.txt").find("cluster"), std::string::npos);  // the summary
  // The same flags from the Hugging Face folder directly: one command.
  ASSERT_EQ(quadrant(d, "plan --model " + fs::path(config).parent_path().string() +
                            " --rate 4 --gpus H100 --out direct --threads 2 --quiet"),
            0)
      << slurp(d / "err.txt");
  EXPECT_TRUE(fs::exists(d / "direct" / "deploy" / "vllm.sh"));
}

TEST(QuickPlanTest, EachRunWithoutOutGetsANewFolder) {
  const fs::path d = work_dir("folders");
  const std::string model = fs::absolute("scenarios/models/mixtral-8x7b.json").string();
  for (int run = 1; run <= 2; ++run) {
    ASSERT_EQ(quadrant(d, "plan --model " + model + " --rate 4 --gpus A100 --threads 2 --quiet"), 0)
        << slurp(d / "err.txt");
    EXPECT_TRUE(fs::exists(d / ("plan-mixtral-8x7b-" + std::to_string(run)) / "report.html"));
  }
}

TEST(QuickPlanTest, ABadFlagIsOneErrorAndLeavesNothing) {
  const fs::path d = work_dir("bad");
  for (const char* args :
       {"plan --model no-such-model --out x", "plan --gpus Z9 --out x", "plan --ttft 2 --out x",
        "plan --rate=-3 --out x", "plan --model mixtral-8x7b --tpot fast --out x"}) {
    SCOPED_TRACE(args);
    EXPECT_EQ(quadrant(d, args), 1 << 8);  // exit status 1
    const std::string err = slurp(d / "err.txt");
    EXPECT_NE(err.find("quadrant: error: --"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << err;  // one line
    EXPECT_FALSE(fs::exists(d / "x"));
  }
}

}  // namespace
