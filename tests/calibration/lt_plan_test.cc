// lt_plan.h: the recorded cuBLASLt plan table, its lookup (run holding m, nearest (n, k)
// pair outside the table) and the plan built from a choice.
#include "calibration/lt_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "calibration/json_path.h"
#include "sim/core/error.h"

namespace quadrant::calibration {
namespace {

Json table_json() {
  return Json::parse(R"({"schema_version":1,"kind":"quadrant-cublaslt-plans","gpu":"H200",
    "device":"NVIDIA H200","source":"test","fields":["m_from","tile_n","tile_m","splits"],
    "plans":{"bf16":[{"n":4096,"k":4096,"runs":[[1,64,16,4],[64,128,64,1],[1024,256,128,1]]},
                     {"n":1024,"k":7168,"runs":[[1,64,8,8]]}],
             "fp8":[{"n":4096,"k":4096,"runs":[[1,128,128,1]]}]}})");
}

TEST(LtPlanTable, RunHoldingMAndFormat) {
  const LtPlanTable t = LtPlanTable::parse(table_json(), "t.json");
  LtPlanChoice c = t.find("bf16", 1, 4096, 4096);
  EXPECT_TRUE(c.exact);
  EXPECT_EQ(c.tile_n, 64);
  EXPECT_EQ(c.tile_m, 16);
  EXPECT_EQ(c.splits, 4);
  c = t.find("bf16", 63, 4096, 4096);  // still the first run
  EXPECT_EQ(c.tile_m, 16);
  c = t.find("bf16", 64, 4096, 4096);
  EXPECT_EQ(c.tile_n, 128);
  c = t.find("bf16", 50000, 4096, 4096);  // past the last run's start: the last run
  EXPECT_EQ(c.tile_n, 256);
  EXPECT_EQ(t.find("fp8", 64, 4096, 4096).tile_n, 128);
  EXPECT_EQ(t.find("fp8", 64, 4096, 4096).splits, 1);
}

TEST(LtPlanTable, NearestPairOutsideTheTableIsNotExact) {
  const LtPlanTable t = LtPlanTable::parse(table_json(), "t.json");
  const LtPlanChoice c = t.find("bf16", 8, 1152, 6144);  // nearest: (1024, 7168)
  EXPECT_FALSE(c.exact);
  EXPECT_EQ(c.tile_m, 8);
  EXPECT_EQ(c.splits, 8);
}

TEST(LtPlanTable, PlanOfAChoice) {
  LtPlanChoice c;
  c.tile_n = 128;
  c.tile_m = 64;
  c.splits = 2;
  // 4096 / 128 = 32 n-tiles x 1000 / 64 -> 16 m-tiles x 2 splits = 1024 CTAs: 8 rounds.
  const KernelPlan p = dense_gemm_lt_plan(1000, 4096, 4096, 2, c);
  EXPECT_EQ(p.ctas, 1024);
  EXPECT_EQ(p.waves, std::ceil(1024.0 / kPlanSms));
  EXPECT_DOUBLE_EQ(p.sched_flops, kPlanSms * p.waves * 2.0 * 128 * 64 * 2048);
  EXPECT_DOUBLE_EQ(p.aux_bytes, 1000.0 * 4096 * 2 + 2.0 * 1000 * 4096 * 4 * 2);
}

TEST(LtPlanTable, BadTablesNameFileAndPath) {
  Json j = table_json();
  j["plans"]["bf16"][0]["runs"][1][0] = 1;  // not increasing
  try {
    LtPlanTable::parse(j, "bad.json");
    FAIL() << "accepted a table whose runs do not increase";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("plans.bf16[0].runs[1]"), std::string::npos) << e.what();
  }
  j = table_json();
  j["kind"] = "something";
  EXPECT_THROW(LtPlanTable::parse(j, "bad.json"), InputError);
  j = table_json();
  j["plans"]["bf16"][1]["runs"][0] = Json::array({1, 64, 0, 1});
  EXPECT_THROW(LtPlanTable::parse(j, "bad.json"), InputError);
}

// The committed table (recorded on the H200) loads, and every pair it holds answers exactly.
TEST(LtPlanTable, CommittedH200TableLoads) {
  const std::string file = "calibration/plans/H200-cublaslt.json";
  ASSERT_TRUE(std::filesystem::exists(file)) << "run from the repository root";
  const LtPlanTable t = LtPlanTable::read(file);
  EXPECT_EQ(t.gpu(), "H200");
  const LtPlanChoice c = t.find("bf16", 16, 7168, 7168);
  EXPECT_TRUE(c.exact);
  EXPECT_GE(c.tile_n * c.tile_m, 64);
}

}  // namespace
}  // namespace quadrant::calibration
