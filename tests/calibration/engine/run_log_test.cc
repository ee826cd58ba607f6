// The engine's log files: what is written reads back the same, and a bad file is one
// InputError naming the file, the line and the column.
#include "calibration/engine/run_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "calibration/engine/cost_executor.h"
#include "calibration/engine/driver.h"
#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/io/scenario_io.h"

namespace quadrant::engine {
namespace {
namespace fs = std::filesystem;

// A directory per test and process (ctest runs the cases in parallel processes).
fs::path temp_dir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("quadrant_run_log_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

EngineRun sample_run() {
  Scenario sc = load_scenario("tests/calibration/engine/colocated_h200.json");
  sc.workload.max_requests = 40;
  sc.workload.arrival.rate_per_s = 30;
  RooflineCostModel roofline(*sc.catalog.find("H200"));
  CostModelExecutor ex(sc.model, *sc.catalog.find("H200"), sc.cluster, roofline,
                       {.kv_blocks = 300, .block_tokens = 16});
  VirtualClock clock;
  EngineOptions o;
  o.scenario = "scenario.json";
  return run_engine(sc, engine_requests(sc.workload, sc.seed), ex, clock, o);
}

TEST(RunLog, WritesAndReadsBackTheSameRun) {
  const EngineRun run = sample_run();
  ASSERT_GT(run.meta.preemptions, 0);  // the round trip covers preempted requests
  const fs::path dir = temp_dir("roundtrip");
  write_run_log(run, dir.string());
  const EngineRun back = read_run_log(dir.string());
  EXPECT_EQ(steps_csv(back.steps), steps_csv(run.steps));
  EXPECT_EQ(requests_csv(back.requests), requests_csv(run.requests));
  EXPECT_EQ(run_json(back.meta, back), run_json(run.meta, run));
  EXPECT_EQ(back.meta.kv_blocks, 300);
  EXPECT_EQ(back.meta.scenario, "scenario.json");
  fs::remove_all(dir);
}

TEST(RunLog, AStepOfAUsersEngineNeedsOnlyItsComposition) {
  // The smallest step log a user exports from another engine: no indexes, no times but
  // the step's own.
  const std::vector<StepRecord> s = parse_steps_csv(
      "gpu_ns,prefill,decode_seqs,decode_context\n"
      "2500000,7:0:512;8:1024:256,0,0\n"
      "900000,,32,40000\n",
      "user.csv");
  ASSERT_EQ(s.size(), 2u);
  const StepBatch b = step_batch(s[0]);
  EXPECT_EQ(b.prefill.num_seqs, 2);
  EXPECT_EQ(b.prefill.new_tokens, 768);
  EXPECT_EQ(b.prefill.context_tokens, 512 + 1280);
  EXPECT_EQ(b.prefill.attention_pairs, 512 * 513 / 2 + 256 * 1024 + 256 * 257 / 2);
  EXPECT_EQ(step_batch(s[1]).decode.context_tokens, 40000);
  EXPECT_EQ(s[1].decode_seqs, 32);
  EXPECT_EQ(s[1].index, 1);
}

void expect_error(const std::string& text, bool steps, const std::string& where,
                  const std::string& what) {
  try {
    if (steps) {
      parse_steps_csv(text, "f.csv");
    } else {
      parse_requests_csv(text, "f.csv");
    }
    FAIL() << "expected an InputError for " << text;
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "f.csv");
    EXPECT_EQ(e.path(), where) << e.what();
    EXPECT_NE(e.message().find(what), std::string::npos) << e.what();
  }
}

TEST(RunLog, BadStepLinesNameTheirLineAndColumn) {
  const std::string h = "gpu_ns,prefill,decode_seqs,decode_context\n";
  expect_error("", true, "", "header");
  expect_error("gpu_ns,prefill,decode_seqs\n", true, "line 1", "decode_context");
  expect_error(h + "100,,2\n", true, "line 2", "4 comma-separated fields, got 3");
  expect_error(h + "abc,,2,10\n", true, "line 2, column gpu_ns", "integer");
  expect_error(h + "0,,2,10\n", true, "line 2, column gpu_ns", ">= 1");
  expect_error(h + "100,7:0,0,0\n", true, "line 2, column prefill", "seq:start:tokens");
  expect_error(h + "100,,3,2\n", true, "line 2, column decode_context", "at least one KV token");
  expect_error(h + "100,,0,0\n", true, "line 2, column prefill", "empty step");
  expect_error("step," + h.substr(0, h.size() - 1) + "\n1,100,,1,1\n", true, "line 2, column step",
               "expected step 0");
}

TEST(RunLog, BadRequestLinesNameTheirLineAndColumn) {
  const std::string h =
      "id,arrival_ns,input_tokens,output_tokens,first_token_ns,finish_ns,status,token_steps\n";
  expect_error(h + "0,10,5,2,20,30,done,0+2\n", false, "line 2, column status", "finished");
  expect_error(h + "0,10,5,2,5,30,finished,0+2\n", false, "line 2, column status",
               "arrival <= first token <= finish");
  expect_error(h + "0,10,5,3,20,30,finished,0+2\n", false, "line 2, column token_steps",
               "numbering the 3 output tokens, got 2");
  expect_error(h + "1,10,5,2,20,30,finished,0+2\n", false, "line 2, column id", "request 0");
  expect_error(h + "0,10,0,2,20,30,finished,0+2\n", false, "line 2, column input_tokens", ">= 1");
}

TEST(RunLog, ReadingAMissingOrForeignDirectoryFailsClearly) {
  const fs::path dir = temp_dir("bad");
  EXPECT_THROW(read_run_log(dir.string()), InputError);
  fs::create_directories(dir);
  std::ofstream(dir / "run.json") << "{\"kind\": \"something else\"}";
  try {
    read_run_log(dir.string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "kind");
  }
  fs::remove_all(dir);
}

TEST(RunLog, TokenStepsMustExistInTheStepLog) {
  const EngineRun run = sample_run();
  const fs::path dir = temp_dir("steps");
  EngineRun cut = run;
  cut.steps.resize(cut.steps.size() / 2);
  write_run_log(cut, dir.string());
  try {
    read_run_log(dir.string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(e.message().find("within the"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace quadrant::engine
